import pg from 'pg';
import type { Logger } from 'pino';
import type { App } from '../../app/app.js';

// The sealer: links committed audit events into their merchants' hash chains, so that appending an event
// (audit_append: one INSERT, no lock) never waits on another write of its merchant.
//
// Exactly one sealer works at a time, across every server process and the CLI: the one holding a
// session-level advisory lock on a connection of its own (pg_try_advisory_lock, so nobody waits on it).
// Every server process runs one; each tries to take the lock every interval, so when the leader's process
// dies (its connection closes and the lock goes with it), another takes over within an interval. The leader
// calls audit_seal() every interval, in batches until nothing sealable is left: a merchant's events are
// linked within about a second of commit (the contract allows 5).
//
// The order is the database's (audit_seal, migration 20261201010000_audit_sealer): events are linked in
// position order (the global sequence audit_append draws), and only up to a frontier made final first: the
// last position handed out, once every transaction that held a lock on audit_events when it was read has
// ended. An event with a lower position that commits after a higher one is therefore never skipped: until
// its transaction ends, nothing at or after its position is linked. audit_seal also takes a
// transaction-level advisory lock, so two callers (the leader and a test or an operator calling it
// directly) take turns and never interleave their links.
//
// The embedded database (src/db/pgliteSessions.ts) is one session shared by every connection: a session
// advisory lock there hands the whole backend to its holder. Its single server process (and a CLI command
// using it) therefore seals without the election, relying on audit_seal's transaction lock.

/** pg_try_advisory_lock(LEADER_LOCK): the sealer's election. */
const LEADER_LOCK = [72707371, 2] as const;
const DEFAULT_BATCH = 1000;
/** How long audit_seal waits for the transactions writing audit events when it starts (they last milliseconds). */
const DEFAULT_WAIT_MS = 1000;

type Query = <R extends pg.QueryResultRow>(text: string, values: unknown[]) => Promise<R[]>;

/**
 * Seals everything committed so far, in batches; returns how many events were linked. Waits (up to waitMs
 * per batch) for transactions writing audit events to end; one still open then leaves what follows it for
 * the next call.
 */
async function sealAuditEvents(query: Query, batchSize = DEFAULT_BATCH, waitMs = DEFAULT_WAIT_MS): Promise<number> {
  let total = 0;
  for (;;) {
    const [row] = await query<{ n: number }>('SELECT audit_seal($1, $2) AS n', [batchSize, waitMs]);
    const n = row?.n ?? 0;
    total += n;
    if (n < batchSize) return total;
  }
}

export interface AuditSealer {
  /**
   * One round: take the leadership if nobody holds it and, as leader, seal what is sealable. Returns the
   * events linked (0 when another process leads). Never throws: a failure is logged and the connection
   * dropped (the lock with it); the next round starts over.
   */
  tick(): Promise<number>;
  /** This sealer holds the lock (always true on the embedded database). */
  readonly leader: boolean;
  /** Stops the timer, waits for the round in progress, closes the connection (releasing the lock). */
  close(): Promise<void>;
}

export interface AuditSealerOptions {
  databaseUrl: string;
  /** The app's pool: used instead of an elected connection on the embedded database. */
  pool: pg.Pool;
  embedded: boolean;
  log: Logger;
  batchSize?: number;
  /** Runs tick() this often (ms); absent or 0: only when called. */
  intervalMs?: number;
}

export function createAuditSealer(opts: AuditSealerOptions): AuditSealer {
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  let client: pg.Client | undefined;
  let leader = false;
  let closed = false;
  let failing = false;
  let running: Promise<number> | undefined;

  const drop = async () => {
    const c = client;
    client = undefined;
    leader = false;
    await c?.end().catch(() => undefined);
  };

  const round = async (): Promise<number> => {
    try {
      if (opts.embedded) {
        leader = true;
        const sealed = await sealAuditEvents(async (text, values) => (await opts.pool.query(text, values)).rows, batchSize);
        failing = false;
        return sealed;
      }
      if (!client) {
        const c = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'vault-audit-sealer' });
        // A connection lost between rounds must not crash the process; the next round sees it and reconnects.
        c.on('error', () => {
          if (client === c) void drop();
        });
        await c.connect();
        // As the pool's sessions plan (src/db/client.ts): audit_seal's lookups of each merchant's last link
        // keep the plans made on their first call, when audit_links may have been small.
        await c.query('SET enable_seqscan = off').catch(async (err: unknown) => {
          await c.end().catch(() => undefined);
          throw err;
        });
        if (closed) {
          await c.end().catch(() => undefined);
          return 0;
        }
        client = c;
      }
      const c = client;
      if (!leader) {
        const [row] = (await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [...LEADER_LOCK])).rows;
        leader = row?.ok === true;
        if (leader) opts.log.info('audit sealer: this process now links audit events into their chains');
      }
      if (!leader) return 0;
      const sealed = await sealAuditEvents(async (text, values) => (await c.query(text, values)).rows, batchSize);
      failing = false;
      return sealed;
    } catch (err) {
      // Once per outage, not every second of it.
      if (!failing) opts.log.warn({ err }, 'audit sealer: round failed; retrying every interval');
      failing = true;
      await drop();
      return 0;
    }
  };

  const tick = (): Promise<number> => {
    if (closed) return Promise.resolve(0);
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = opts.intervalMs ? setInterval(() => void tick(), opts.intervalMs) : undefined;
  timer?.unref();

  return {
    tick,
    get leader() {
      return leader;
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      await running;
      await drop();
    },
  };
}

/** One round as a one-shot process would run it (the CLI after each command): seal if nobody else leads. */
export async function sealOnce(opts: Omit<AuditSealerOptions, 'intervalMs'>): Promise<{ leader: boolean; sealed: number }> {
  const sealer = createAuditSealer(opts);
  try {
    const sealed = await sealer.tick();
    return { leader: sealer.leader, sealed };
  } finally {
    await sealer.close();
  }
}

/** Seals now through the app's pool, without the election (tests; audit_seal's own lock keeps callers apart). */
export function sealAuditNow(app: App, waitMs = DEFAULT_WAIT_MS): Promise<number> {
  return sealAuditEvents(async (text, values) => (await app.db.pool.query(text, values)).rows, DEFAULT_BATCH, waitMs);
}
