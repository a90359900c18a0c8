import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import type { App } from '../../app/app.js';
import type { Mode } from '../../generated/prisma/client.js';
import { containsCardNumber } from '../../card/pan.js';
import { newId } from '../shared/ids.js';
import { postWebhook, type PostOptions } from './delivery.js';
import { endpointSecret } from './webhooks.js';

// The dispatcher: every server process runs one. It claims due delivery jobs with FOR UPDATE SKIP LOCKED and
// a lease (locked_until), so processes share the work without sending one attempt twice and a crashed
// process's claim expires; it POSTs each signed event (Standard Webhooks), records the attempt and schedules
// the next one with exponential backoff and jitter until the retry window has passed.

export interface DispatcherOptions {
  /** How often to look for due deliveries. */
  pollMs: number;
  /** Longest wait for an endpoint's answer. */
  timeoutMs: number;
  /** The first retry's delay; each later one doubles, up to maxDelayMs, with ±20% jitter. */
  retryBaseMs: number;
  maxDelayMs: number;
  /** Retry this long after the event, then give up (state failed). */
  retryWindowMs: number;
  /** Deliveries in flight per process. */
  concurrency: number;
  /** How live mode deliveries resolve names (default dns.lookup): tests pass their own. */
  resolve?: PostOptions['resolve'];
}

export interface Dispatcher {
  /** Claims and delivers what is due now (one round); the number of attempts made. */
  runOnce(): Promise<number>;
  close(): Promise<void>;
}

interface Claimed {
  merchantId: string;
  id: string;
  mode: Mode;
  eventId: string;
  endpointId: string;
  attempts: number;
  createdAt: Date;
  type: string;
  payload: unknown;
  url: string;
  secret: string;
}

/**
 * Claims up to $1 due jobs for $2 ms: the partial index on next_attempt_at serves the scan in due order; a
 * job whose endpoint is gone is deleted with it (cascade), so it is never claimed.
 */
const CLAIM = `WITH due AS (
   SELECT merchant_id, id FROM webhook_deliveries
   WHERE state = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
   ORDER BY next_attempt_at
   LIMIT $1
   FOR UPDATE SKIP LOCKED)
 UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => $2::int / 1000.0)
 FROM due WHERE d.merchant_id = due.merchant_id AND d.id = due.id
 RETURNING d.merchant_id AS "merchantId", d.id, d.mode, d.event_id AS "eventId", d.endpoint_id AS "endpointId", d.attempts,
   d.created_at AS "createdAt",
   (SELECT type FROM webhook_events e WHERE e.merchant_id = d.merchant_id AND e.id = d.event_id) AS type,
   (SELECT payload FROM webhook_events e WHERE e.merchant_id = d.merchant_id AND e.id = d.event_id) AS payload,
   (SELECT url FROM webhook_endpoints w WHERE w.merchant_id = d.merchant_id AND w.id = d.endpoint_id AND w.mode = d.mode) AS url,
   (SELECT secret FROM webhook_endpoints w WHERE w.merchant_id = d.merchant_id AND w.id = d.endpoint_id AND w.mode = d.mode) AS secret`;

/** The attempt, and the job's next state, in one statement; nothing when the job is gone (endpoint deleted). */
const RECORD = `WITH d AS (
   UPDATE webhook_deliveries SET attempts = attempts + 1, state = $3, next_attempt_at = $4::timestamptz, locked_until = NULL, last_status = $5
   WHERE merchant_id = $1 AND id = $2
   RETURNING merchant_id, id, mode, endpoint_id, event_id, attempts)
 INSERT INTO webhook_attempts (merchant_id, id, delivery_id, attempt, mode, endpoint_id, event_id, event_type, status, succeeded, error, duration_ms, at)
 SELECT d.merchant_id, $11, d.id, d.attempts, d.mode, d.endpoint_id, d.event_id, $6, $5, $7, $8, $9, $10::timestamptz FROM d`;

/** The delay before retry number `n` (1: the first retry): base·2^(n-1), capped, ±20% jitter. */
export function retryDelayMs(n: number, baseMs: number, maxMs: number, random = Math.random): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.max(0, n - 1));
  return Math.round(delay * (0.8 + 0.4 * random()));
}

/**
 * What `webhookDeliveries` shows as an attempt's `error`: the connection's own codes (a system error such as
 * ECONNREFUSED or ENOTFOUND, a TLS certificate code, EPRIVATEADDRESS, EPAYLOADPAN); anything else is the
 * vault's own failure (its database, its keys), shown as `internal` rather than blamed on the endpoint.
 */
function deliveryErrorCode(code: string | undefined): string {
  if (!code) return 'internal';
  const system = /^E[A-Z0-9_]{2,38}$/.test(code) && (!code.startsWith('ERR_') || code.startsWith('ERR_TLS_'));
  const certificate = /^([A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]{1,30})$/.test(code);
  return system || certificate ? code.slice(0, 40) : 'internal';
}

export function createDispatcher(app: App, log: Logger, options: DispatcherOptions): Dispatcher {
  let closed = false;
  let running: Promise<number> | undefined;
  const lease = options.timeoutMs + 30_000;

  async function deliver(job: Claimed): Promise<void> {
    const started = Date.now();
    let status: number | null = null;
    let error: string | null = null;
    if (job.url === null || job.payload === null) return; // deleted meanwhile
    const body = JSON.stringify(job.payload);
    try {
      // The guard events.ts applied when the event was recorded (a stored payload is checked again, not trusted).
      if (containsCardNumber(body)) throw Object.assign(new Error('payload holds a card number'), { code: 'EPAYLOADPAN' });
      const secret = await endpointSecret(app, { merchantId: job.merchantId, id: job.endpointId, secret: job.secret });
      const timestamp = new Date();
      const signature = new Webhook(secret).sign(job.eventId, timestamp, body);
      // Live mode endpoints are refused any private address, as given or as their name resolves now
      // (./addresses.ts); test mode endpoints may be local (a developer's machine).
      status = await postWebhook(
        job.url,
        {
          'content-type': 'application/json',
          'user-agent': 'vault-webhooks/1',
          'webhook-id': job.eventId,
          'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body,
        { timeoutMs: options.timeoutMs, publicOnly: job.mode === 'LIVE', resolve: options.resolve },
      );
    } catch (e) {
      const err = e as Error & { code?: string };
      error = err.name === 'AbortError' || err.name === 'TimeoutError' ? 'timeout' : deliveryErrorCode(err.code);
    }
    const succeeded = status !== null && status >= 200 && status < 300;
    const now = new Date();
    const attempt = job.attempts + 1;
    const next = new Date(now.getTime() + retryDelayMs(attempt, options.retryBaseMs, options.maxDelayMs));
    const givingUp = !succeeded && next.getTime() - new Date(job.createdAt).getTime() > options.retryWindowMs;
    const state = succeeded ? 'succeeded' : givingUp ? 'failed' : 'pending';
    await app.db.sql(
      RECORD,
      [job.merchantId, job.id, state, next, status, job.type, succeeded, error, now.getTime() - started, now, newId('wha')],
      'vault_webhook_record',
    );
    log.info(
      { webhook: { deliveryId: job.id, eventId: job.eventId, endpointId: job.endpointId, attempt, status, error, state } },
      'webhook attempt',
    );
  }

  async function round(): Promise<number> {
    const jobs = (await app.db.sql(CLAIM, [options.concurrency, lease], 'vault_webhook_claim')) as Claimed[];
    await Promise.all(jobs.map((j) => deliver(j).catch((e: Error) => log.error({ err: { name: e.name } }, 'webhook delivery failed'))));
    return jobs.length;
  }

  const runOnce = () => {
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  };

  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    if (closed) return;
    try {
      // Keep going while there is work; then wait for the next poll.
      while (!closed && (await runOnce()) === options.concurrency);
    } catch (e) {
      log.warn({ err: { name: (e as Error).name, message: (e as Error).message } }, 'webhook dispatcher round failed');
    }
    if (!closed) timer = setTimeout(tick, options.pollMs);
  };
  if (options.pollMs > 0) timer = setTimeout(tick, options.pollMs);

  return {
    runOnce,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}
