// Throwaway databases on the test PostgreSQL server (TEST_PG_URL): each test gets its own, dropped afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { parseMasterKeys } from '../../src/crypto/masterKeys.js';
import { createDb, db, setDb, type Db } from '../../src/db/client.js';
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
 * Runs `fn` with the process-wide Db opened on `databaseUrl` (domain functions such as createMerchant use
 * it), then puts back whatever was set before.
 */
export async function withProcessDb<T>(databaseUrl: string, fn: () => Promise<T>): Promise<T> {
  let previous: Db | undefined;
  try {
    previous = db();
  } catch {
    previous = undefined; // none set
  }
  const other = createDb(databaseUrl, parseMasterKeys(TEST_MASTER_KEYS), { poolSize: 2 });
  setDb(other);
  try {
    return await fn();
  } finally {
    setDb(previous);
    await other.disconnect();
  }
}
