// The per-process api-key cache (src/domain/merchants/apiKeyCache.ts) and its NOTIFY triggers: a cached key revoked or
// changed by any means stops working at once, a lookup racing with a notification is not cached, and a lost
// listener connection turns the cache off until it is back. Three levels:
//   1. the run's shared server, over HTTP (revocations through the CLI and through plain SQL);
//   2. a server of its own on a database of its own, over HTTP: there, api_keys can be locked (a cached key
//      still answers, an uncached one waits) and its listener terminated without disturbing other files;
//   3. the cache and authenticate in this process, on another private database, counting SQL statements with
//      createDb's onQuery.
import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp, type App } from '../../src/app/app.js';
import { parseConfig } from '../../src/app/config.js';
import type { Db } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { startApiKeyCache, type ApiKeyCache, type ApiKeyCacheOptions } from '../../src/domain/merchants/apiKeyCache.js';
import { authenticate, createApiKey, hashKey, revokeApiKey } from '../../src/domain/merchants/apiKeys.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { createLogger } from '../../src/app/logger.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { querySql as sql, withTestApp, createTestApp, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { newMerchant, testApp, useDatabase } from '../helpers/vault.js';

useDatabase();

const QUERY = '{ customers { edges { cursor } } }';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 10): Promise<number> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
  return Date.now() - started;
}

/** The HTTP status of a small query with `apiKey`, against `url`. */
async function status(url: string, apiKey: string): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': apiKey },
    body: JSON.stringify({ query: QUERY }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Terminates the api-key listeners connected to `databaseUrl`'s database (and only those); their pids. */
async function terminateListeners(databaseUrl: string): Promise<number[]> {
  const rows = await sql<{ pid: number }>(
    databaseUrl,
    `SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid() AND pg_terminate_backend(pid)`,
  );
  return rows.map((r) => r.pid);
}

async function listenerCount(databaseUrl: string): Promise<number> {
  const [row] = await sql<{ n: number }>(
    databaseUrl,
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'vault api-key listener'`,
  );
  return row!.n;
}

/** Polls until `apiKey` answers 401; how long that took (throws past `timeoutMs`). */
async function until401(url: string, apiKey: string, timeoutMs = 1_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const s = await status(url, apiKey);
    if (s === 401) return Date.now() - started;
    expect(s).toBe(200);
    if (Date.now() - started > timeoutMs) throw new Error(`still ${s} after ${timeoutMs} ms`);
    await sleep(10);
  }
}

/**
 * Holds an ACCESS EXCLUSIVE lock on api_keys until released: any lookup of a key in the table waits, so a
 * request that still answers did not look its key up. Nothing notifies (no row changes).
 */
async function lockApiKeys(databaseUrl: string): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE');
  return {
    async release() {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end();
    },
  };
}

/** Whether `promise` is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const PENDING = Symbol('pending');
  return (await Promise.race([promise, sleep(ms).then(() => PENDING)])) === PENDING;
}

// ---------------------------------------------------------------------------------------------------------

describe('revocation reaches the shared server at once', () => {
  it('a cached key revoked through the CLI answers 401 on the very next request', async () => {
    const m = await newMerchant();
    const extra = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST' });
    const url = inject('graphqlUrl');
    // Twice: the first caches it, the second is answered from the cache.
    expect(await status(url, extra.key)).toBe(200);
    expect(await status(url, extra.key)).toBe(200);

    // Not spawnSync: a test process blocked for the CLI's seconds keeps a kept-alive socket past the server's
    // keep-alive timeout, and its next request then meets the server's close ("other side closed").
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'key', 'revoke', extra.keyId], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_URL: inject('databaseUrl'),
        VAULT_MASTER_KEYS: TEST_MASTER_KEYS,
        LOG_LEVEL: 'warn',
      },
      encoding: 'utf8',
      timeout: 60_000,
    });

    expect(await status(url, extra.key)).toBe(401);
    expect(await status(url, extra.key)).toBe(401);
    // The merchant's other key is untouched.
    expect(await status(url, m.secretKey)).toBe(200);
  });

  it('a cached key revoked by plain SQL from another connection answers 401 within 1 s, and from then on', async () => {
    const m = await newMerchant();
    const url = inject('graphqlUrl');
    expect(await status(url, m.secretKey)).toBe(200);
    expect(await status(url, m.secretKey)).toBe(200);
    await sql(inject('databaseUrl'), 'UPDATE api_keys SET revoked_at = now() WHERE merchant_id = $1 AND key_hash = $2', [
      m.merchantId,
      hashKey(m.secretKey),
    ]);
    const took = await until401(url, m.secretKey);
    console.log(`[api-key cache] SQL revocation answered 401 after ${took} ms`);
    for (let i = 0; i < 5; i++) expect(await status(url, m.secretKey)).toBe(401);
  });

  it('any change by SQL evicts: a key turned publishable, and a deleted key', async () => {
    const m = await newMerchant();
    const url = inject('graphqlUrl');
    const other = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST' });
    for (const key of [m.secretKey, other.key]) expect(await status(url, key)).toBe(200);
    // An sk_ key whose stored kind no longer agrees with its prefix is refused (authenticate's checks run on
    // every call, on the freshly read row).
    await sql(inject('databaseUrl'), `UPDATE api_keys SET kind = 'PUBLISHABLE' WHERE merchant_id = $1 AND id = $2`, [
      m.merchantId,
      other.keyId,
    ]);
    await until401(url, other.key);
    await sql(inject('databaseUrl'), 'DELETE FROM api_keys WHERE merchant_id = $1 AND key_hash = $2', [m.merchantId, hashKey(m.secretKey)]);
    await until401(url, m.secretKey);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('a server of its own: caching observed, listener terminated', () => {
  let database: TestDatabase;
  let server: { url: string; child: ChildProcess };
  let logFile: string;
  const cacheOnLines = () =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('api-key cache on')).length;

  beforeAll(async () => {
    database = await createTestDatabase();
    logFile = path.join(mkdtempSync(path.join(tmpdir(), 'vault-api-key-cache-')), 'server.log');
    // Its url is the GraphQL endpoint's.
    server = await startServerProcess(database.url, logFile, { VAULT_RATE_LIMIT: '0' });
    await until('the server listening for revocations', () => cacheOnLines() === 1);
  });
  afterAll(async () => {
    if (server) await stopProcess(server.child);
    await database?.drop();
  });

  /** Proves `key` is answered from the server's cache: with api_keys locked it still answers, an uncached key waits. */
  async function expectCached(key: string, uncached: string): Promise<void> {
    const lock = await lockApiKeys(database.url);
    let waiting: Promise<number> | undefined;
    try {
      expect(await status(server.url, key)).toBe(200);
      waiting = status(server.url, uncached);
      expect(await pendingAfter(waiting, 500), 'an uncached key waits for the lock on api_keys').toBe(true);
    } finally {
      await lock.release();
    }
    expect(await waiting).toBe(200);
  }

  it('answers a cached key without looking it up', async () => {
    const m = await withTestApp(database.url, (app) => createMerchant(app, { name: 'api-key cache: server' }));
    const other = await withTestApp(database.url, (app) => createApiKey(app, { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST' }));
    expect(await status(server.url, m.secretKey)).toBe(200);
    await expectCached(m.secretKey, other.key);
  });

  it('its listener terminated: requests still authenticate, the cache comes back, revocations are still honoured', async () => {
    const m = await withTestApp(database.url, (app) => createMerchant(app, { name: 'api-key cache: reconnect' }));
    const [a, b, c] = await withTestApp(database.url, (app) =>
      Promise.all([0, 1, 2].map(() => createApiKey(app, { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST' }))),
    );
    expect(await status(server.url, m.secretKey)).toBe(200);

    expect(await terminateListeners(database.url)).toHaveLength(1);
    // At once, whether the listener is back yet or not.
    expect(await status(server.url, m.secretKey)).toBe(200);
    expect(await status(server.url, a!.key)).toBe(200);
    const back = await until('the listener back', () => cacheOnLines() === 2);
    expect(readFileSync(logFile, 'utf8')).toContain('api-key cache off');
    console.log(`[api-key cache] server listener back ${back} ms after it was terminated`);
    expect(server.child.exitCode).toBeNull();

    // Caching resumed (it restarted empty: b is looked up once, then cached).
    expect(await status(server.url, b!.key)).toBe(200);
    await expectCached(b!.key, c!.key);

    await revokeViaSql(database.url, b!.keyId);
    await until401(server.url, b!.key);
    expect(await status(server.url, m.secretKey)).toBe(200);
  });

  it('closes its listener on SIGTERM and exits 0', async () => {
    expect(await listenerCount(database.url)).toBe(1);
    expect(await stopProcess(server.child)).toBe(0);
    await until('the listener gone', async () => (await listenerCount(database.url)) === 0, 5_000, 50);
  });
});

async function revokeViaSql(databaseUrl: string, keyId: string): Promise<void> {
  await sql(databaseUrl, 'UPDATE api_keys SET revoked_at = now() WHERE id = $1', [keyId]);
}

// ---------------------------------------------------------------------------------------------------------

describe('apiKeyCache and authenticate in this process (SQL statements counted)', () => {
  let database: TestDatabase;
  let unitApp: App;
  let unitDb: Db;
  // unitApp with the cache under test: authenticate reads the cache from the app it is given.
  let authApp: App;
  let cache: ApiKeyCache;
  /** Statements reading api_keys since the last reset. */
  let lookups = 0;
  const counted = async <T>(fn: () => Promise<T>): Promise<{ value: T; lookups: number }> => {
    lookups = 0;
    const value = await fn();
    return { value, lookups };
  };
  const extraCaches: ApiKeyCache[] = [];

  async function newCache(overrides: Partial<ApiKeyCacheOptions> = {}): Promise<ApiKeyCache> {
    const c = startApiKeyCache({ databaseUrl: database.url, pool: unitDb.pool, ttlMs: 60_000, ...overrides });
    await until('the cache active', () => c.active);
    return c;
  }

  async function newKey() {
    const m = await createMerchant(authApp, { name: `api-key cache unit ${Math.random().toString(36).slice(2, 8)}` });
    return { merchantId: m.merchantId, key: m.secretKey, keyHash: hashKey(m.secretKey) };
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    await migrate(database.url);
    unitApp = await createTestApp(database.url, {
      db: {
        onQuery: (text) => {
          if (/\bFROM api_keys\b/.test(text)) lookups++;
        },
      },
    });
    unitDb = unitApp.db;
    // A reconnect delay long enough to observe the cache off after its listener is terminated.
    cache = await newCache({ minBackoffMs: 400 });
    authApp = { ...unitApp, apiKeyCache: cache };
  });
  afterAll(async () => {
    await cache?.close();
    for (const c of extraCaches) await c.close();
    await unitApp?.stop();
    await database?.drop();
  });

  it('a valid key is looked up once, then answered from the cache; unknown keys are never cached', async () => {
    const k = await newKey();
    const first = await counted(() => authenticate(authApp, k.key));
    expect(first.value).toMatchObject({ merchantId: k.merchantId, kind: 'SECRET', mode: 'TEST' });
    expect(first.lookups).toBe(1);
    const second = await counted(() => authenticate(authApp, k.key));
    expect(second.value).toEqual(first.value);
    expect(second.lookups).toBe(0);

    const sizeBefore = cache.size;
    // Well-formed but unknown: each is looked up, every time, and none is kept.
    const unknown = () => `sk_test_${randomBytes(32).toString('hex').slice(0, 43)}`;
    for (const key of [unknown(), unknown()]) {
      for (let i = 0; i < 2; i++) expect((await counted(() => authenticate(authApp, key))).lookups).toBe(1);
    }
    expect(cache.size).toBe(sizeBefore);
    // Malformed keys never reach the database at all.
    expect((await counted(() => authenticate(authApp, 'garbage'))).lookups).toBe(0);
  });

  it('a revocation through the domain evicts at once; an UPDATE from another connection within milliseconds', async () => {
    const k = await newKey();
    const other = await createApiKey(authApp, { merchantId: k.merchantId, kind: 'SECRET', mode: 'TEST' });
    await authenticate(authApp, k.key);
    await authenticate(authApp, other.key);
    expect((await counted(() => authenticate(authApp, other.key))).lookups).toBe(0);

    const epoch = cache.epoch;
    await revokeApiKey(authApp, other.keyId);
    const took = await until('the notification', () => cache.epoch > epoch, 1_000, 1);
    console.log(`[api-key cache] notification handled ${took} ms after the revoking transaction committed`);
    const after = await counted(() => authenticate(authApp, other.key));
    expect(after.value).toBeNull();
    expect(after.lookups).toBe(1);
    // Only that key went.
    expect((await counted(() => authenticate(authApp, k.key))).lookups).toBe(0);

    const epoch2 = cache.epoch;
    await sql(database.url, 'UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1', [k.keyHash]);
    await until('the notification', () => cache.epoch > epoch2, 1_000, 1);
    expect(await authenticate(authApp, k.key)).toBeNull();
  });

  it("a NOTIFY of a hash evicts that key, '*' evicts every key", async () => {
    const [k1, k2] = [await newKey(), await newKey()];
    for (const k of [k1, k2]) await authenticate(authApp, k.key);
    expect((await counted(async () => [await authenticate(authApp, k1.key), await authenticate(authApp, k2.key)])).lookups).toBe(0);

    let epoch = cache.epoch;
    await sql(database.url, 'SELECT pg_notify($1, $2)', ['vault_api_keys', k1.keyHash]);
    await until('the notification', () => cache.epoch > epoch, 1_000, 1);
    expect((await counted(() => authenticate(authApp, k1.key))).lookups).toBe(1);
    expect((await counted(() => authenticate(authApp, k2.key))).lookups).toBe(0);

    epoch = cache.epoch;
    await sql(database.url, `NOTIFY vault_api_keys, '*'`);
    await until('the notification', () => cache.epoch > epoch, 1_000, 1);
    expect(cache.size).toBe(0);
    expect((await counted(async () => [await authenticate(authApp, k1.key), await authenticate(authApp, k2.key)])).lookups).toBe(2);
  });

  it('a lookup during which a notification lands is answered but not cached', async () => {
    const k = await newKey();
    // Both pooled connections held: the lookup's query waits for one, so the notification is handled while
    // the lookup is in flight (as when a revocation commits between its read and its store).
    const held = [await unitDb.pool.connect(), await unitDb.pool.connect()];
    let lookup: Promise<unknown>;
    try {
      lookups = 0;
      lookup = authenticate(authApp, k.key);
      await until('the lookup waiting for a connection', () => lookups === 1, 5_000, 1);
      const epoch = cache.epoch;
      await sql(database.url, 'SELECT pg_notify($1, $2)', ['vault_api_keys', k.keyHash]);
      await until('the notification', () => cache.epoch > epoch, 1_000, 1);
    } finally {
      for (const c of held) c.release();
    }
    expect(await lookup).toMatchObject({ merchantId: k.merchantId });
    // Not cached: the next call queries again; that one, undisturbed, is cached.
    expect((await counted(() => authenticate(authApp, k.key))).lookups).toBe(1);
    expect((await counted(() => authenticate(authApp, k.key))).lookups).toBe(0);
  });

  it('its listener terminated: off at once (every lookup queries), back after reconnecting, empty, and honouring revocations', async () => {
    const k = await newKey();
    await authenticate(authApp, k.key);
    expect((await counted(() => authenticate(authApp, k.key))).lookups).toBe(0);

    expect(await terminateListeners(database.url)).toHaveLength(1);
    await until('the cache off', () => !cache.active, 2_000, 1);
    expect(cache.size).toBe(0);
    // While it is off (at least the 400 ms reconnect delay), nothing is cached.
    expect((await counted(async () => [await authenticate(authApp, k.key), await authenticate(authApp, k.key)])).lookups).toBe(2);

    await until('the cache back', () => cache.active, 10_000);
    expect(await listenerCount(database.url)).toBe(1);
    expect((await counted(() => authenticate(authApp, k.key))).lookups).toBe(1);
    expect((await counted(() => authenticate(authApp, k.key))).lookups).toBe(0);

    const epoch = cache.epoch;
    await sql(database.url, 'UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1', [k.keyHash]);
    await until('the notification', () => cache.epoch > epoch, 1_000, 1);
    expect(await authenticate(authApp, k.key)).toBeNull();
  });

  it('entries expire after the TTL, and the oldest goes when the cache is full', async () => {
    const small = await newCache({ ttlMs: 300, maxEntries: 2 });
    extraCaches.push(small);
    authApp = { ...unitApp, apiKeyCache: small };
    try {
      const [k1, k2, k3] = [await newKey(), await newKey(), await newKey()];
      for (const k of [k1, k2, k3]) await authenticate(authApp, k.key);
      expect(small.size).toBe(2);
      // k1 was dropped for k3; k2 and k3 stay.
      expect((await counted(async () => [await authenticate(authApp, k2.key), await authenticate(authApp, k3.key)])).lookups).toBe(0);
      expect((await counted(() => authenticate(authApp, k1.key))).lookups).toBe(1);
      await sleep(350);
      expect((await counted(() => authenticate(authApp, k2.key))).lookups).toBe(1);
    } finally {
      authApp = { ...unitApp, apiKeyCache: cache };
    }
  });

  it('the triggers notify the hash on UPDATE (old and new) and DELETE, "*" on TRUNCATE; nothing on INSERT or rollback', async () => {
    const listener = new pg.Client({ connectionString: database.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => {
      if (!n.payload?.startsWith('probe:')) heard.push(n.payload ?? '');
    });
    await listener.query('LISTEN vault_api_keys');
    const expectHeard = async (expected: string[]) => {
      // A marker after the statements under test: once it is heard, everything before it was.
      await sql(database.url, `NOTIFY vault_api_keys, 'marker'`);
      await until('the marker', () => heard.includes('marker'), 2_000, 1);
      expect(heard.splice(0).filter((p) => p !== 'marker')).toEqual(expected);
    };
    try {
      const k = await newKey();
      const added = await createApiKey(authApp, { merchantId: k.merchantId, kind: 'SECRET', mode: 'LIVE' });
      await expectHeard([]);

      await sql(database.url, `UPDATE api_keys SET allow_reveal = true WHERE key_hash = $1`, [k.keyHash]);
      await expectHeard([k.keyHash]);
      await sql(database.url, `UPDATE api_keys SET key_hash = 'rehashed' WHERE key_hash = $1`, [k.keyHash]);
      await expectHeard([k.keyHash, 'rehashed']);
      await sql(database.url, `BEGIN; UPDATE api_keys SET revoked_at = now() WHERE key_hash = 'rehashed'; ROLLBACK`);
      await expectHeard([]);
      await sql(database.url, `DELETE FROM api_keys WHERE key_hash = 'rehashed'`);
      await expectHeard(['rehashed']);

      const epoch = cache.epoch;
      await sql(database.url, 'TRUNCATE api_keys');
      await expectHeard(['*']);
      await until('the cache cleared', () => cache.epoch > epoch && cache.size === 0, 1_000, 1);
      expect(await authenticate(authApp, added.key)).toBeNull();
    } finally {
      await listener.end();
    }
  });

  it('createApp starts it for the server only (not the CLI, not with VAULT_API_KEY_CACHE_SECONDS=0) and stops it', async () => {
    const log = createLogger('silent');
    const env = { NODE_ENV: 'test', DATABASE_URL: database.url, VAULT_MASTER_KEYS: TEST_MASTER_KEYS };
    const listeners = await listenerCount(database.url);
    for (const [options, vars, expected] of [
      [{ apiKeyCache: true }, {}, true],
      [{}, {}, false], // the CLI's call
      [{ apiKeyCache: true }, { VAULT_API_KEY_CACHE_SECONDS: '0' }, false],
    ] as const) {
      const app = await createApp(parseConfig({ ...env, ...vars }), log, { migrate: false, ...options });
      try {
        const started = app.apiKeyCache;
        expect(started !== undefined, JSON.stringify({ options, vars })).toBe(expected);
        if (started) {
          await until("the app's cache active", () => started.active);
          expect(await listenerCount(database.url)).toBe(listeners + 1);
        } else {
          await sleep(200);
          expect(await listenerCount(database.url)).toBe(listeners);
        }
      } finally {
        await app.stop();
      }
      expect(app.apiKeyCache?.active ?? false).toBe(false);
      await until('the listener gone', async () => (await listenerCount(database.url)) === listeners, 2_000);
    }
    expect(parseConfig({}).VAULT_API_KEY_CACHE_SECONDS).toBe(60);
    expect(() => parseConfig({ VAULT_API_KEY_CACHE_SECONDS: '-1' })).toThrow(/VAULT_API_KEY_CACHE_SECONDS/);
  });
});
