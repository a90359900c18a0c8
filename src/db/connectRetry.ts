import type pg from 'pg';
import { classifyConnectionCode, classifyConnectionMessage } from './connectionErrors.js';

// A failover (Patroni promoting the standby behind HAProxy), a restart or a crash recovery refuses new connections
// for a few seconds. Without this, every request that needs a fresh connection in that window fails at once with
// INTERNAL_SERVER_ERROR, although nothing was sent to the database and the request could simply have waited.
// With it, establishing a connection is retried with backoff within the same budget a request already has for
// getting a pooled connection (VAULT_STATEMENT_TIMEOUT_MS), so such requests answer late instead of failing.
//
// Only establishing a connection is retried: a query that failed on a connection already handed out (in flight
// when the primary died) is not, since its transaction may or may not have committed.

/**
 * Whether a failed connection attempt may succeed later: the network refused or cut it (a proxy with no primary
 * behind it closes it at once: "Connection terminated unexpectedly"), or the server is starting, shutting down or
 * recovering (SQLSTATE 57P01-57P03, class 08). Not: a wrong password, an unknown database, a full pool (its wait
 * already used the budget). The list is connectionErrors.ts's; a server error's SQLSTATE decides over its message.
 */
export function isTransientConnectError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  const failure = typeof code === 'string' ? classifyConnectionCode(code) : classifyConnectionMessage(err.message);
  return failure === 'lost';
}

export interface ConnectRetryOptions {
  /** How long a caller waits in all for a connection while attempts fail. */
  budgetMs: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called before each retry (metrics, logs). */
  onRetry?: (err: Error, attempt: number) => void;
}

/**
 * Makes `pool.connect` (which `pool.query`, Prisma's adapter and every transaction go through) retry transient
 * connection failures until `budgetMs` has passed; then the last error is thrown as before.
 */
export function retryTransientConnects(pool: pg.Pool, opts: ConnectRetryOptions): void {
  const minBackoff = opts.minBackoffMs ?? 100;
  const maxBackoff = opts.maxBackoffMs ?? 1_000;
  const connectOnce = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  const connect = async (): Promise<pg.PoolClient> => {
    const deadline = Date.now() + opts.budgetMs;
    let backoff = minBackoff;
    for (let attempt = 1; ; attempt++) {
      try {
        return await connectOnce();
      } catch (err) {
        if (!isTransientConnectError(err) || Date.now() + backoff >= deadline) throw err;
        opts.onRetry?.(err as Error, attempt);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  };
  // Both of pg-pool's forms: a promise, or a callback (err, client, release), which pool.query uses.
  pool.connect = ((callback?: (err: Error | undefined, client: pg.PoolClient | undefined, release: (err?: Error) => void) => void) => {
    if (!callback) return connect();
    connect().then(
      (client) => callback(undefined, client, (err?: Error) => client.release(err)),
      (err: Error) => callback(err, undefined, () => undefined),
    );
    return undefined;
  }) as typeof pool.connect;
}
