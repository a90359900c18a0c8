import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseConfig, type Config } from './config.js';
import { generateMasterKeyString, parseMasterKeys, type MasterKeyRing } from './crypto/masterKeys.js';
import { createDb, setDb, type Db } from './db/client.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { verifyMasterKeys } from './db/keyring.js';
import { describeMigration, migrate } from './db/migrate.js';
import { setApiKeyCache, startApiKeyCache } from './domain/apiKeyCache.js';
import { upgradeFingerprintKeys } from './domain/fingerprintKeys.js';

// Start-up shared by the server and the CLI: configuration, database (given or embedded), master keys,
// migrations, and the process-wide Prisma client.

export interface Runtime {
  config: Config;
  databaseUrl: string;
  embedded: boolean;
  db: Db;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  log: Logger;
  /** Apply pending migrations before returning (the server does; most CLI commands do too). */
  migrate: boolean;
  /** Serve the embedded database to other processes (the server); the CLI connects to that one if it runs. */
  serveEmbedded?: boolean;
  /** Refuse to start unless every master key id that wraps data keys is configured and unwraps them (the server). */
  verifyMasterKeys?: boolean;
  /** Cache authenticated api keys, evicted by NOTIFY (the HTTP server; not the CLI, whose commands are one-shot). */
  apiKeyCache?: boolean;
  config?: Config;
}

export async function startRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const config = opts.config ?? parseConfig();
  const { log } = opts;
  const stops: Array<() => Promise<void>> = [];
  let databaseUrl = config.DATABASE_URL;
  let embedded = false;

  if (!databaseUrl) {
    embedded = true;
    const running = runningEmbedded(config.VAULT_DATA_DIR);
    if (running && !opts.serveEmbedded) {
      databaseUrl = running;
    } else {
      const pg = await startEmbeddedPostgres({
        dataDir: path.join(config.VAULT_DATA_DIR, 'pg'),
        log: (m) => log.info(m),
      });
      databaseUrl = pg.url;
      const marker = embeddedMarker(config.VAULT_DATA_DIR);
      if (opts.serveEmbedded) await writeFile(marker, JSON.stringify({ pid: process.pid, url: pg.url }));
      stops.push(async () => {
        if (opts.serveEmbedded) await rm(marker, { force: true });
        await pg.stop();
      });
    }
  }

  try {
    const master = await masterKeys(config, log);
    if (opts.migrate) {
      const { applied } = await migrate(databaseUrl, { log: (m) => log.info(m) });
      if (applied.length > 0) log.info({ applied: applied.map(describeMigration) }, 'migrations applied');
    }
    const db = createDb(databaseUrl, master, {
      poolSize: config.DATABASE_POOL_SIZE,
      timeoutMs: config.VAULT_STATEMENT_TIMEOUT_MS,
      keyCacheMs: config.VAULT_KEY_CACHE_SECONDS * 1000,
    });
    setDb(db);
    stops.unshift(async () => {
      setDb(undefined);
      await db.disconnect();
    });
    // Before anything unwraps a data key: a wrong master key stops start-up here, named.
    if (opts.verifyMasterKeys) await verifyMasterKeys(db.sql, master);
    if (opts.migrate) {
      // The part of a migration SQL cannot do (it needs the master keys): see fingerprintKeys.ts.
      const upgraded = await upgradeFingerprintKeys();
      if (upgraded.merchants > 0) log.info(upgraded, 'test-mode fingerprint keys created');
    }
    // With the embedded database too: its session layer delivers NOTIFY to the connections that LISTEN
    // (src/db/pgliteSessions.ts), including revocations committed by a CLI process.
    if (opts.apiKeyCache && config.VAULT_API_KEY_CACHE_SECONDS > 0) {
      const cache = startApiKeyCache({ databaseUrl, pool: db.pool, ttlMs: config.VAULT_API_KEY_CACHE_SECONDS * 1000, log });
      setApiKeyCache(cache);
      // Runs before the database closes (stops run first to last).
      stops.unshift(async () => {
        setApiKeyCache(undefined);
        await cache.close();
      });
    }
    return {
      config,
      databaseUrl,
      embedded,
      db,
      async stop() {
        for (const stop of stops) await stop();
      },
    };
  } catch (err) {
    for (const stop of stops) await stop().catch(() => {});
    throw err;
  }
}

function embeddedMarker(dataDir: string): string {
  return path.join(dataDir, 'embedded.json');
}

/** The URL of an embedded database served by a running vault server, if there is one. */
function runningEmbedded(dataDir: string): string | undefined {
  const marker = embeddedMarker(dataDir);
  if (!existsSync(marker)) return undefined;
  try {
    const { pid, url } = JSON.parse(readFileSync(marker, 'utf8')) as { pid: number; url: string };
    process.kill(pid, 0);
    return url;
  } catch {
    return undefined;
  }
}

/**
 * VAULT_MASTER_KEYS when set. Otherwise (development only; config refuses this in production) a key
 * generated once and kept in the data folder, so the embedded database stays readable across restarts.
 */
async function masterKeys(config: Config, log: Logger): Promise<MasterKeyRing> {
  if (config.VAULT_MASTER_KEYS) return parseMasterKeys(config.VAULT_MASTER_KEYS);
  const file = path.join(config.VAULT_DATA_DIR, 'master-keys');
  if (!existsSync(file)) {
    await mkdir(config.VAULT_DATA_DIR, { recursive: true });
    await writeFile(file, `${generateMasterKeyString('dev1')}\n`, { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    log.warn({ file }, 'VAULT_MASTER_KEYS is not set: generated a development master key (never use this in production)');
  }
  return parseMasterKeys((await readFile(file, 'utf8')).trim());
}
