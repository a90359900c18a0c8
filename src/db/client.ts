import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import type { MasterKeyRing } from '../crypto/masterKeys.js';
import { retryTransientConnects } from './connectRetry.js';
import { encryptionExtension } from './encryption.js';
import { Keyring } from '../crypto/keyring.js';

export interface DbOptions {
  poolSize?: number;
  /** Called with every SQL statement (tests count round-trips with it). */
  onQuery?: (sql: string) => void;
  /** Longest statement, and longest wait for a pooled connection (default: none). */
  timeoutMs?: number;
  /** How long unwrapped data keys are cached (default 30 s). */
  keyCacheMs?: number;
}

export function createDb(databaseUrl: string, master: MasterKeyRing, options: DbOptions = {}) {
  // Our own pool (not one the adapter makes), so /metrics can report its use and disconnect can end it.
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    ...(options.timeoutMs && { statement_timeout: options.timeoutMs, connectionTimeoutMillis: options.timeoutMs }),
  });
  // An idle client losing its connection (the database restarted) must not crash the process; the pool
  // drops it and the next query gets a fresh one.
  pool.on('error', () => undefined);
  // node-postgres emits 'error' on a checked-out client whose connection is lost while no query runs on it (the
  // FATAL of a backend whose postmaster died, a terminated session); the pool listens only to idle clients, and an
  // 'error' nobody listens to ends the process. So every client keeps a listener: the error marks the client
  // broken, its next query fails like any lost connection, and the pool drops it on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  // A failover or restart refuses new connections for a few seconds: a request waits for one (retried with
  // backoff) within the budget it has for a pooled connection anyway, instead of failing (connectRetry.ts).
  retryTransientConnects(pool, { budgetMs: options.timeoutMs ?? 15_000 });
  const adapter = new PrismaPg(pool);
  // Under load a transaction waits for a pooled connection like any query does (Prisma's default gives up
  // after 2 s and fails the request), bounded by the same timeout.
  const waitMs = options.timeoutMs ?? 15_000;
  const base = new PrismaClient({
    adapter,
    transactionOptions: { maxWait: waitMs, timeout: waitMs },
    ...(options.onQuery && { log: [{ emit: 'event' as const, level: 'query' as const }] }),
  });
  if (options.onQuery) {
    const onQuery = options.onQuery;
    (base as unknown as { $on(event: 'query', cb: (e: { query: string }) => void): void }).$on('query', (e) => onQuery(e.query));
  }
  const keyring = new Keyring(base, master, options.keyCacheMs);
  const prisma = base.$extends(encryptionExtension(keyring));
  /**
   * A plain parameterised query on the pool, for the hottest statements (counted by onQuery like Prisma's).
   * With a `name` it is a prepared statement: each connection parses and plans it once, then only binds
   * and executes (PostgreSQL shares these CPUs; for a primary-key lookup, planning is much of the work).
   */
  const sql = async <R extends pg.QueryResultRow>(text: string, params: unknown[], name?: string): Promise<R[]> => {
    options.onQuery?.(text);
    return (await pool.query<R>(name ? { name, text, values: params } : { text, values: params })).rows;
  };
  return {
    prisma,
    keyring,
    pool,
    sql,
    disconnect: async () => {
      await base.$disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}

export type Db = ReturnType<typeof createDb>;
export type Prisma = Db['prisma'];
/** The client inside `prisma.$transaction(async (tx) => …)`. */
export type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];
