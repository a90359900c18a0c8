// Throwaway databases on the test PostgreSQL server (TEST_PG_URL): each test gets its own, dropped afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { createApp, type App, type AppOptions } from '../../src/app/app.js';
import { parseConfig } from '../../src/app/config.js';
import { ADMIN_PG_URL, TEST_MASTER_KEYS } from './env.js';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `vault_t_${randomBytes(6).toString('hex')}`;
  await withAdminClient((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const url = new URL(ADMIN_PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    // FORCE: a test that failed midway may have left connections open.
    drop: () => withAdminClient((c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)),
  };
}

async function withAdminClient(fn: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_PG_URL });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end();
  }
}

/** One statement on its own short-lived connection to `databaseUrl`: its rows. */
export async function querySql<R extends pg.QueryResultRow>(databaseUrl: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * An app on the test database `databaseUrl` (already migrated), as a server or CLI process would build it
 * but without migrating, caching keys or limiting rates; `env` and `opts` change what a test needs.
 */
export function createTestApp(databaseUrl: string, opts: AppOptions = {}, env: Record<string, string> = {}): Promise<App> {
  const config = parseConfig({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    VAULT_MASTER_KEYS: TEST_MASTER_KEYS,
    DATABASE_POOL_SIZE: '2',
    ...env,
  });
  return createApp(config, pino({ level: 'silent' }), opts);
}

/** Runs `fn` with an app on `databaseUrl` (for domain functions such as createMerchant), then stops it. */
export async function withTestApp<T>(databaseUrl: string, fn: (app: App) => Promise<T>): Promise<T> {
  const app = await createTestApp(databaseUrl);
  try {
    return await fn(app);
  } finally {
    await app.stop();
  }
}
