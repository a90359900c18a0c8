import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { ApiKeyKind, Mode } from '../../generated/prisma/client.js';

// A per-process cache of authenticated api keys, so most requests authenticate without a query.
//
// Revocation must still take effect at once, not after a TTL: a trigger on api_keys (migration
// 20261122020000_api_key_notify) NOTIFYs the key hash on every UPDATE/DELETE and '*' on TRUNCATE, and a
// dedicated LISTEN connection evicts accordingly. The cache is only used while that connection is known to
// deliver: connected, LISTENing, and a probe sent over another connection came back. Without it (not yet
// connected, the database restarting, notifications not delivered at all, e.g. through a transaction-pooling
// proxy) every lookup queries, exactly as without a cache.
//
// Race: a lookup reads a valid row, a revocation commits and its notification is handled, then the lookup
// would store the stale row. Every notification and every (dis)connect bumps `epoch`; a lookup stores its row
// only if the epoch it noted before querying is unchanged afterwards.

const API_KEY_CHANNEL = 'vault_api_keys';

/**
 * What authenticate reads from api_keys (the principal's fields). The profiles never change once the key and
 * its merchant exist (a key's restriction is set at creation, a merchant's default profile never moves), so a
 * cached row stays true until the key is revoked.
 */
export interface ApiKeyRow {
  merchantId: string;
  id: string;
  kind: ApiKeyKind;
  mode: Mode;
  allowReveal: boolean;
  /** The one profile the key may act in; null: every profile of the merchant. */
  profileId: string | null;
  /** The merchant's default profile: where records go when neither key nor request names one. */
  defaultProfileId: string;
}

export interface ApiKeyCacheOptions {
  /** Where the LISTEN connection goes: the same database as the pool. */
  databaseUrl: string;
  /** The process's pool: sends the delivery probe from another session than the listener's. */
  pool: pg.Pool;
  /** Safety net for notifications lost without the connection failing (a half-open socket): entries expire. */
  ttlMs: number;
  /** Entries kept at most; over it, the oldest insertion goes (random keys are never cached anyway). */
  maxEntries?: number;
  /** Reconnect delay after a lost or failed connection, doubled per failure up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long the probe notification may take to come back before delivery counts as broken. */
  probeTimeoutMs?: number;
  log?: Logger;
}

export interface ApiKeyCache {
  /** The row for `keyHash`: cached, else `load`ed (and cached if found, while caching is on and nothing changed meanwhile). */
  lookup(keyHash: string, load: () => Promise<ApiKeyRow | undefined>): Promise<ApiKeyRow | undefined>;
  /** Whether lookups are answered from and stored in the cache right now. */
  readonly active: boolean;
  readonly size: number;
  /** Bumped on every notification and every (dis)connect. */
  readonly epoch: number;
  /** Stops listening and caching; no reconnect afterwards. */
  close(): Promise<void>;
}

const PROBE_PREFIX = 'probe:';

export function startApiKeyCache(opts: ApiKeyCacheOptions): ApiKeyCache {
  const maxEntries = opts.maxEntries ?? 10_000;
  const minBackoff = opts.minBackoffMs ?? 100;
  const maxBackoff = opts.maxBackoffMs ?? 5_000;
  const probeTimeoutMs = opts.probeTimeoutMs ?? 5_000;
  const log = opts.log;

  const entries = new Map<string, { row: ApiKeyRow; expiresAt: number }>();
  let epoch = 0;
  let active = false;
  let closed = false;
  let listener: pg.Client | undefined;
  let probing: { payload: string; done: (delivered: boolean) => void } | undefined;
  let retry: NodeJS.Timeout | undefined;
  let backoff = minBackoff;
  // One warning per outage, not one per reconnect attempt.
  let quiet = false;

  const invalidateAll = () => {
    epoch++;
    entries.clear();
  };

  const connect = async () => {
    retry = undefined;
    if (closed) return;
    const client = new pg.Client({
      connectionString: opts.databaseUrl,
      application_name: 'vault api-key listener',
      // Bounded, so an unreachable database means another attempt later rather than a hung one.
      connectionTimeoutMillis: 5_000,
      query_timeout: 5_000,
      keepAlive: true,
    });
    listener = client;
    // Registered before connecting and never removed: a pg.Client emitting 'error' without a listener would
    // crash the process (the database restarting, an operator terminating the backend).
    client.on('error', (err) => lost(client, err));
    client.on('end', () => lost(client));
    client.on('notification', (msg) => {
      if (client !== listener || msg.channel !== API_KEY_CHANNEL) return;
      const payload = msg.payload ?? '';
      if (payload.startsWith(PROBE_PREFIX)) {
        // Ours confirms delivery; other processes' probes change nothing.
        if (probing?.payload === payload) probing.done(true);
        return;
      }
      epoch++;
      if (payload === '*') entries.clear();
      else entries.delete(payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${API_KEY_CHANNEL}`);
      if (!(await probe())) throw new Error('notifications sent from another connection do not reach the listener');
    } catch (err) {
      lost(client, err);
      return;
    }
    if (client !== listener || closed) return;
    // Starts empty: whatever changed while nobody listened was never announced to this cache.
    invalidateAll();
    active = true;
    backoff = minBackoff;
    quiet = false;
    log?.info('api-key cache on (listening for revocations)');
  };

  /** NOTIFYs a unique payload through the pool and waits for the listener to hear it. */
  const probe = () =>
    new Promise<boolean>((resolve) => {
      const payload = `${PROBE_PREFIX}${randomUUID()}`;
      const timer = setTimeout(() => done(false), probeTimeoutMs);
      const done = (delivered: boolean) => {
        clearTimeout(timer);
        if (probing?.payload === payload) probing = undefined;
        resolve(delivered);
      };
      probing = { payload, done };
      opts.pool.query('SELECT pg_notify($1, $2)', [API_KEY_CHANNEL, payload]).catch(() => done(false));
    });

  /** The listener failed or ended: stop caching at once, then reconnect later. Idempotent per client. */
  const lost = (client: pg.Client, err?: unknown) => {
    if (client !== listener) return;
    listener = undefined;
    const wasActive = active;
    active = false;
    invalidateAll();
    probing?.done(false);
    void client.end().catch(() => undefined);
    if (closed) return;
    const reason = err instanceof Error ? err.message : 'connection ended';
    if (wasActive || !quiet)
      log?.warn({ reason, retryInMs: backoff }, 'api-key cache off: revocation listener lost; every request queries until it is back');
    else log?.debug({ reason, retryInMs: backoff }, 'api-key cache: listener reconnect failed');
    quiet = true;
    retry = setTimeout(() => void connect(), backoff);
    retry.unref();
    backoff = Math.min(backoff * 2, maxBackoff);
  };

  void connect();

  return {
    async lookup(keyHash, load) {
      if (active) {
        const hit = entries.get(keyHash);
        if (hit && hit.expiresAt > Date.now()) return hit.row;
        if (hit) entries.delete(keyHash);
      }
      const noted = active ? epoch : undefined;
      const row = await load();
      // Unknown and revoked keys are not stored (random keys must not fill memory); a valid row only if no
      // notification or reconnect happened since the query started (epoch moves on both).
      if (row && noted === epoch && active) {
        if (!entries.has(keyHash) && entries.size >= maxEntries) {
          const oldest = entries.keys().next().value;
          if (oldest !== undefined) entries.delete(oldest);
        }
        entries.set(keyHash, { row, expiresAt: Date.now() + opts.ttlMs });
      }
      return row;
    },
    get active() {
      return active;
    },
    get size() {
      return entries.size;
    },
    get epoch() {
      return epoch;
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      retry = undefined;
      const client = listener;
      listener = undefined;
      active = false;
      invalidateAll();
      probing?.done(false);
      if (!client) return;
      // Bounded: shutdown must not wait on a dead socket.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([client.end().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))]);
      clearTimeout(timer);
    },
  };
}
