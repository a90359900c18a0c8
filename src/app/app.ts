import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { createConnectors, type Connectors } from '../integrations/connectors/index.js';
import { generateMasterKeyString, NO_MASTER_KEYS, parseMasterKeys, type MasterKeyRing } from '../crypto/masterKeys.js';
import { createDb, type Db, type DbOptions } from '../db/client.js';
import { isAlive, startEmbeddedPostgres } from '../db/embedded.js';
import { verifyMasterKeys } from '../crypto/keyring.js';
import { describeMigration, migrate, pendingMigrations } from '../db/migrate.js';
import { startApiKeyCache, type ApiKeyCache } from '../domain/merchants/apiKeyCache.js';
import { createAuditSealer, type AuditSealer } from '../domain/audit/sealer.js';
import { createDispatcher, type Dispatcher } from '../domain/webhooks/dispatcher.js';
import { upgradeFingerprintKeys } from '../domain/merchants/fingerprintKeys.js';
import { createAppUrls, type AppUrls } from './urls.js';
import { observePool, recordReadBatch } from '../http/plugins/metrics.js';
import { observeReadBatches } from '../domain/paymentMethods/store.js';
import { createAuthFailureLimiter, createRateLimiter, type AuthFailureLimiter, type RateLimiter } from '../http/plugins/rateLimit.js';
import { createTokenServices, type TokenServices } from '../integrations/tokenServices/index.js';
import { createUpdaters, type Updaters } from '../integrations/updaters/index.js';
import type { Config } from './config.js';

// The composition root: the one place that builds what the vault runs on (configuration, logger, database
// with its keyring, connectors, token services, caches, limiters, addresses, clock) and hands it on
// explicitly: yoga's context carries it, CLI commands receive it, every domain function takes it first.
// Nothing else holds app state, so a test swaps a dependency by building another app.

export interface App {
  readonly config: Config;
  readonly log: Logger;
  /** Prisma (with the encryption extension), the pool, `sql` for prepared statements, the keyring. */
  readonly db: Db;
  readonly databaseUrl: string;
  /** For connections that need a session of their own (listener, sealer, migrations): DATABASE_DIRECT_URL or databaseUrl. */
  readonly sessionDatabaseUrl: string;
  /** The database is the embedded one (no DATABASE_URL). */
  readonly embedded: boolean;
  readonly connectors: Connectors;
  readonly tokenServices: TokenServices;
  /** The card networks' account updaters, by mode. */
  readonly updaters: Updaters;
  /** Authenticated api keys (server processes); absent: authenticate queries every time. */
  readonly apiKeyCache: ApiKeyCache | undefined;
  /** Links audit events into their chains, when elected (server processes); absent: this process does not seal. */
  readonly auditSealer: AuditSealer | undefined;
  /** Delivers merchant webhooks (server processes); absent: this process delivers none. */
  readonly webhookDispatcher: Dispatcher | undefined;
  /** Requests per api key (server processes); absent: no limit. */
  readonly rateLimiter: RateLimiter | undefined;
  /** Failed authentications per client address (server processes); absent: no limit. */
  readonly authFailures: AuthFailureLimiter | undefined;
  /** VAULT_PUBLIC_URL and the listen address (set by the server once it listens). */
  readonly urls: AppUrls;
  /** The time every rule compares against (expiry, retention, token lifetimes); tests fix it. */
  readonly clock: () => Date;
  /** Closes what the app opened, last opened first; the app is unusable afterwards. */
  stop(): Promise<void>;
}

export interface AppOptions {
  /** Apply pending migrations (and the fingerprint-key upgrade that follows them) before returning. */
  migrate?: boolean;
  /** Serve the embedded database to other processes (the server); the CLI connects to that one if it runs. */
  serveEmbedded?: boolean;
  /** Refuse to start unless every master key id that wraps data keys is configured and unwraps them (the server). */
  verifyMasterKeys?: boolean;
  /** Cache authenticated api keys, evicted by NOTIFY (the HTTP server; not the CLI, whose commands are one-shot). */
  apiKeyCache?: boolean;
  /** Run the audit sealer every VAULT_AUDIT_SEAL_INTERVAL_MS, elected among all processes (the HTTP server). */
  auditSealer?: boolean;
  /** Deliver merchant webhooks every VAULT_WEBHOOK_POLL_MS, sharing the work with every other process (the HTTP server). */
  webhookDispatcher?: boolean;
  /** Rate limiters from the configuration (the HTTP server). */
  rateLimits?: boolean;
  /** Report the pool's connections on /metrics (the HTTP server). */
  metrics?: boolean;
  /** Database options beyond the configuration's (tests count statements with onQuery). */
  db?: Omit<DbOptions, 'poolSize' | 'timeoutMs' | 'keyCacheMs'> & Partial<Pick<DbOptions, 'poolSize' | 'timeoutMs' | 'keyCacheMs'>>;
  /** Default: the real time. */
  clock?: () => Date;
  /**
   * Read the database only, with no master keys (`audit verify`: what an auditor runs with a SELECT-only role
   * and without the keys that decrypt card data). Every transaction is READ ONLY; the schema must be current.
   */
  readOnly?: boolean;
}

const realClock = (): Date => new Date();

export async function createApp(config: Config, log: Logger, opts: AppOptions = {}): Promise<App> {
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
      // The URL holds the embedded database's password: readable by this user only.
      if (opts.serveEmbedded) {
        try {
          await rm(marker, { force: true });
          await writeFile(marker, JSON.stringify({ pid: process.pid, url: pg.url }), { mode: 0o600, flag: 'wx' });
        } catch (err) {
          await pg.stop(); // and its folder is free again
          throw err;
        }
      }
      stops.push(async () => {
        if (opts.serveEmbedded) await rm(marker, { force: true });
        await pg.stop();
      });
    }
  }

  try {
    const master = opts.readOnly ? NO_MASTER_KEYS : await masterKeys(config, log);
    // Behind a transaction-pooling proxy, what holds session state (LISTEN, the sealer's advisory lock, DDL)
    // goes straight to the primary when DATABASE_DIRECT_URL names it.
    const sessionDatabaseUrl = (!embedded && config.DATABASE_DIRECT_URL) || databaseUrl;
    if (opts.migrate && !opts.readOnly) {
      const { applied } = await migrate(sessionDatabaseUrl, { log: (m) => log.info(m) });
      if (applied.length > 0) log.info({ applied: applied.map(describeMigration) }, 'migrations applied');
    }
    if (opts.readOnly) {
      const pending = await pendingMigrations(sessionDatabaseUrl);
      if (pending.length > 0) {
        throw new SchemaBehindError(
          `The database lacks ${pending.length} migration(s) of this vault version (${pending.join(', ')}): a read-only command cannot apply them; run \`vault db migrate\` (or use the vault version that wrote this database)`,
        );
      }
    }
    const db = createDb(databaseUrl, master, {
      poolSize: config.DATABASE_POOL_SIZE,
      timeoutMs: config.VAULT_STATEMENT_TIMEOUT_MS,
      keyCacheMs: config.VAULT_KEY_CACHE_SECONDS * 1000,
      preparedStatements: config.VAULT_DB_PREPARED_STATEMENTS,
      readOnly: opts.readOnly,
      onPreparedStatementsLost: (err) =>
        log.warn(
          { err },
          'named prepared statements do not survive on this database connection (a transaction-pooling proxy?): turned off; set VAULT_DB_PREPARED_STATEMENTS=false to skip this',
        ),
      onStartupParameterRefused: (parameter) =>
        log.warn(
          parameter === 'statement_timeout'
            ? 'the database (a pooler: PgBouncer?) refuses statement_timeout as a startup parameter: connecting without it; set it on the role (ALTER ROLE … SET statement_timeout) or list it in ignore_startup_parameters'
            : 'the database (a pooler: PgBouncer?) refuses options as a startup parameter: connecting without the planner setting enable_seqscan=off; set it on the role (ALTER ROLE … SET enable_seqscan = off), or plans made while tables were small may scan them whole once they have grown',
        ),
      ...opts.db,
    });
    stops.unshift(() => db.disconnect());
    if (opts.metrics) {
      const unobserve = observePool(db.pool);
      stops.unshift(async () => unobserve());
    }
    if (opts.verifyMasterKeys) await db.warmUp();
    // Before anything unwraps a data key: a wrong master key stops start-up here, named.
    if (opts.verifyMasterKeys) await verifyMasterKeys(db.sql, master);

    let apiKeyCache: ApiKeyCache | undefined;
    // With the embedded database too: its session layer delivers NOTIFY to the connections that LISTEN
    // (src/db/pgliteSessions.ts), including revocations committed by a CLI process.
    if (opts.apiKeyCache && config.VAULT_API_KEY_CACHE_SECONDS > 0) {
      const cache = startApiKeyCache({
        databaseUrl: sessionDatabaseUrl,
        pool: db.pool,
        ttlMs: config.VAULT_API_KEY_CACHE_SECONDS * 1000,
        log,
      });
      apiKeyCache = cache;
      // Runs before the database closes (stops run first to last).
      stops.unshift(() => cache.close());
    }
    let auditSealer: AuditSealer | undefined;
    if (opts.auditSealer && config.VAULT_AUDIT_SEAL_INTERVAL_MS > 0) {
      const sealer = createAuditSealer({
        databaseUrl: sessionDatabaseUrl,
        pool: db.pool,
        embedded,
        log,
        intervalMs: config.VAULT_AUDIT_SEAL_INTERVAL_MS,
      });
      auditSealer = sealer;
      // Before the database closes; closing its connection hands the leadership to another process.
      stops.unshift(() => sealer.close());
    }
    let rateLimiter: RateLimiter | undefined;
    let authFailures: AuthFailureLimiter | undefined;
    if (opts.rateLimits) {
      const limiter = createRateLimiter({
        points: config.VAULT_RATE_LIMIT,
        windowSeconds: config.VAULT_RATE_LIMIT_WINDOW_SECONDS,
        redisUrl: config.REDIS_URL,
        log,
      });
      const failures = createAuthFailureLimiter({
        points: config.VAULT_AUTH_FAILURE_LIMIT,
        windowSeconds: config.VAULT_AUTH_FAILURE_WINDOW_SECONDS,
        redisUrl: config.REDIS_URL,
        log,
      });
      rateLimiter = limiter;
      authFailures = failures;
      stops.unshift(async () => {
        await limiter.close();
        await failures.close();
      });
    }

    let stopping: Promise<void> | undefined;
    let webhookDispatcher: Dispatcher | undefined;
    const app: App = {
      config,
      log,
      db,
      databaseUrl,
      sessionDatabaseUrl,
      embedded,
      connectors: createConnectors(),
      tokenServices: createTokenServices(master, opts.clock ?? realClock),
      updaters: createUpdaters(),
      apiKeyCache,
      auditSealer,
      get webhookDispatcher() {
        return webhookDispatcher;
      },
      rateLimiter,
      authFailures,
      urls: createAppUrls(config.VAULT_PUBLIC_URL),
      clock: opts.clock ?? realClock,
      stop: () =>
        (stopping ??= (async () => {
          for (const stop of stops) await stop();
        })()),
    };
    if (opts.metrics) observeReadBatches(app, recordReadBatch);
    if (opts.webhookDispatcher && config.VAULT_WEBHOOK_POLL_MS > 0 && !opts.readOnly) {
      const dispatcher = createDispatcher(app, log, {
        pollMs: config.VAULT_WEBHOOK_POLL_MS,
        timeoutMs: config.VAULT_WEBHOOK_TIMEOUT_MS,
        retryBaseMs: config.VAULT_WEBHOOK_RETRY_BASE_MS,
        maxDelayMs: config.VAULT_WEBHOOK_RETRY_MAX_MS,
        retryWindowMs: config.VAULT_WEBHOOK_RETRY_WINDOW_MS,
        concurrency: config.VAULT_WEBHOOK_CONCURRENCY,
      });
      webhookDispatcher = dispatcher;
      // Before the database closes: the round in flight finishes and records its attempts.
      stops.unshift(() => dispatcher.close());
    }
    if (opts.migrate && !opts.readOnly) {
      // The part of a migration SQL cannot do (it needs the master keys): see fingerprintKeys.ts.
      const upgraded = await upgradeFingerprintKeys(app);
      if (upgraded.merchants > 0) log.info(upgraded, 'test-mode fingerprint keys created');
    }
    return app;
  } catch (err) {
    for (const stop of stops) await stop().catch(() => {});
    throw err;
  }
}

/** A read-only command met a database whose schema is older than this code. */
export class SchemaBehindError extends Error {
  override name = 'SchemaBehindError';
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
    return isAlive(pid) ? url : undefined;
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
