import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { Prisma as P, PrismaClient } from '../generated/prisma/client.js';
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
  /** Named prepared statements for `sql(text, params, name)` (default true; see VAULT_DB_PREPARED_STATEMENTS). */
  preparedStatements?: boolean;
  /** Told once when named statements turn out not to survive (a transaction-pooling proxy) and are turned off. */
  onPreparedStatementsLost?: (err: unknown) => void;
  /**
   * Every transaction READ ONLY (default_transaction_read_only, set at connect): for `audit verify`, which must
   * be able to prove it changed nothing, and runs under a role that may only SELECT.
   */
  readOnly?: boolean;
  /**
   * Told once per startup parameter the server refuses (PgBouncer) and that is dropped from then on:
   * `statement_timeout`, or `options` (the planner settings, PLANNER_OPTIONS).
   */
  onStartupParameterRefused?: (parameter: 'statement_timeout' | 'options', err: unknown) => void;
}

/**
 * Which startup parameter a pooler refused, from its error message, or undefined. PgBouncer 1.18 says
 * `unsupported startup parameter: statement_timeout` (or `: options`); from 1.20 it reads `options` itself and
 * refuses a setting in it as `unsupported startup parameter in options: enable_seqscan`, or the whole of it as
 * `unsupported options startup parameter` (Neon's proxy too): both mean dropping `options`.
 */
export function refusedStartupParameter(message: string): 'statement_timeout' | 'options' | undefined {
  if (/unsupported startup parameter: statement_timeout\b/.test(message)) return 'statement_timeout';
  if (
    /unsupported startup parameter: options\b|unsupported startup parameter in options\b|unsupported options startup parameter/.test(
      message,
    )
  ) {
    return 'options';
  }
  return undefined;
}

/**
 * Every session of the pool plans without sequential scans where an index can answer. A pooled connection
 * keeps a named statement's generic plan until statistics change; with autovacuum off, statistics gathered
 * while the tables were small (an ANALYZE after restoring a young vault) never change again, and a plan made
 * on a one-page table (a sequential scan: the cheapest there) went on reading every row as the table grew.
 * Every hot statement is an index lookup (test/integration/plans.test.ts), so forbidding the sequential scan
 * makes the first plan the right one at any size. A statement no index serves still scans (the setting only
 * prices sequential scans out). Through a pooler that refuses the parameter, set it on the role instead.
 */
export const PLANNER_OPTIONS = '-c enable_seqscan=off';

/**
 * A named statement that is missing on the server connection (26000) or already there (42P05): what a
 * transaction-pooling proxy (PgBouncer before 1.21) does to them, handing each transaction whichever server
 * connection is free. The statement did not run: the error comes from Parse or Bind.
 */
function preparedStatementLost(err: unknown, name: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return (e?.code === '26000' || e?.code === '42P05') && typeof e.message === 'string' && e.message.includes(name);
}

export function createDb(databaseUrl: string, master: MasterKeyRing, options: DbOptions = {}) {
  // The statement timeout and the planner settings go in each connection's startup packet; PgBouncer refuses
  // both parameters unless told to ignore them, so once one is refused, new connections go without it (the
  // role's or database's settings apply then: ALTER ROLE … SET statement_timeout, … SET enable_seqscan).
  // A read-only session never drops its `options`: they are what makes it read-only.
  const dropped = new Set<'statement_timeout' | 'options'>();
  const noted = (err: Error | null | undefined) => {
    const parameter = err ? refusedStartupParameter(err.message) : undefined;
    if (!parameter || dropped.has(parameter) || (parameter === 'options' && options.readOnly)) return;
    dropped.add(parameter);
    options.onStartupParameterRefused?.(parameter, err);
  };
  // pg-pool connects its clients with a callback.
  class Client extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super(
        !config || dropped.size === 0
          ? config
          : {
              ...config,
              ...(dropped.has('statement_timeout') && { statement_timeout: undefined }),
              ...(dropped.has('options') && { options: undefined }),
            },
      );
    }
    override connect(): Promise<pg.Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
      if (!callback) {
        return super.connect().catch((err: Error) => {
          noted(err);
          throw err;
        });
      }
      super.connect((err: Error) => {
        noted(err);
        callback(err);
      });
    }
  }
  // Our own pool (not one the adapter makes), so /metrics can report its use and disconnect can end it.
  const pool = new pg.Pool({
    Client,
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    ...(options.timeoutMs && { statement_timeout: options.timeoutMs, connectionTimeoutMillis: options.timeoutMs }),
    options: options.readOnly ? `-c default_transaction_read_only=on ${PLANNER_OPTIONS}` : PLANNER_OPTIONS,
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
  let prepared = options.preparedStatements ?? true;
  const sql = async <R extends pg.QueryResultRow>(text: string, params: unknown[], name?: string): Promise<R[]> => {
    options.onQuery?.(text);
    if (!name || !prepared) return (await pool.query<R>({ text, values: params })).rows;
    try {
      return (await pool.query<R>({ name, text, values: params })).rows;
    } catch (err) {
      if (!preparedStatementLost(err, name)) throw err;
      // Behind a transaction-pooling proxy: unnamed statements from now on (they work anywhere), and this
      // one again (it did not run).
      if (prepared) options.onPreparedStatementsLost?.(err);
      prepared = false;
      return (await pool.query<R>({ text, values: params })).rows;
    }
  };
  return {
    prisma,
    keyring,
    pool,
    sql,
    /** Whether `sql` still sends named prepared statements. */
    preparedStatements: () => prepared,
    /**
     * One round trip, failures ignored: what the first connection teaches (a pooler refusing the startup
     * timeout) is learnt before requests arrive.
     */
    warmUp: async () => {
      // One refusal per attempt (the timeout, the planner settings), then a connection.
      for (let attempt = 0; attempt < 3; attempt++) {
        const ok = await pool.query('SELECT 1').then(
          () => true,
          () => false,
        );
        if (ok) return;
      }
    },
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

/** A JSON column's value for a Prisma write: undefined leaves it as it is, null stores SQL NULL. */
export const jsonOrNull = (v: unknown) => (v === undefined ? undefined : v === null ? P.DbNull : (v as P.InputJsonValue));
