// Fault injection against real processes: the database restarted under load, the server SIGKILLed under load,
// and two servers started at once on one fresh database. Each scenario runs its own server process(es) on its
// own database, so the shared server and database of the run are never disturbed:
//   1. a PRIVATE PostgreSQL cluster (test/helpers/pgCluster.ts), since restarting the shared one would break
//      every other file running in parallel;
//   2. and 3. a fresh database on the shared server (test/helpers/db.ts).
// The servers log into the run's server log, so the end-of-run card-number scan covers them too.
//
// Requests go out as raw POSTs (not through graphql-request, which throws on errors) so every answer can be
// classified: acknowledged (TokenizeCardSuccess with a pm_ id), a clean failure (INTERNAL_SERVER_ERROR with the
// generic message, or HTTP 5xx), the connection cut (only expected when the server is killed), or unexpected
// (a hang, another error, card data in the answer). Every scenario prints its figures.
import { randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  createVaultClient,
  CreateCardTokenDocument,
  CreateCustomerDocument,
  PaymentMethodDocument,
  TokenizeCardDocument,
} from '../../packages/client/src/index.js';
import { verifyAuditChain } from '../../src/domain/audit/audit.js';
import { createMerchant, type CreatedMerchant } from '../../src/domain/merchants/merchants.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { querySql as sql, withTestApp, createTestDatabase } from '../helpers/db.js';
import { startPgCluster } from '../helpers/pgCluster.js';
import { panLike } from '../helpers/scan.js';
import { withLuhn } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// No request may take longer than this: past it, it counts as a hang. Generous (the machine is shared), yet far
// above what the servers' 3 s statement and pool timeouts allow a failing request.
const HANG_MS = 45_000;

// Servers of these tests: no rate limit (the load is one key), short statement/pool timeouts so requests fail
// fast while the database is away.
const SERVER_ENV = { VAULT_RATE_LIMIT: '0', VAULT_STATEMENT_TIMEOUT_MS: '3000', DATABASE_POOL_SIZE: '5' };

// ---------------------------------------------------------------------------------------------------------
// Cleanup: every process, cluster and database a test starts is registered here and released after the test,
// last first (servers before their database), whether the test passed or not.

const cleanups: Array<() => Promise<unknown>> = [];
const onCleanup = (fn: () => Promise<unknown>) => cleanups.push(fn);

afterEach(async () => {
  while (cleanups.length > 0) {
    // Each one bounded, so one that hangs cannot keep the others (a database, a cluster) from being released.
    const cleanup = cleanups.pop()!;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('cleanup timed out')), 30_000)));
    await Promise.race([cleanup(), timeout])
      .catch((err: unknown) => console.error('cleanup failed:', err))
      .finally(() => clearTimeout(timer));
  }
}, 120_000);

async function startServer(databaseUrl: string, extraEnv: Record<string, string> = {}) {
  const server = await startServerProcess(databaseUrl, inject('serverLog'), { ...SERVER_ENV, ...extraEnv });
  onCleanup(() => stopProcess(server.child));
  return server;
}

// ---------------------------------------------------------------------------------------------------------
// Cards: unique per call within the file (a counter), Luhn-valid Visa numbers.

const cardPrefix = `4242${String(randomInt(1000)).padStart(3, '0')}`;
let cardCounter = 0;
function nextCard(): string {
  return withLuhn(`${cardPrefix}${String(++cardCounter).padStart(8, '0')}`);
}

// ---------------------------------------------------------------------------------------------------------
// Raw GraphQL requests and their classification.

type Answer<T> =
  | { kind: 'answer'; status: number; text: string; data?: T; errors?: Array<{ message?: string; extensions?: { code?: string } }> }
  | { kind: 'network'; error: string }
  | { kind: 'timeout' };

async function post<T, V>(url: string, apiKey: string, document: TypedDocumentNode<T, V>, variables: V): Promise<Answer<T>> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': apiKey },
      body: JSON.stringify({ query: print(document), variables }),
      signal: AbortSignal.timeout(HANG_MS),
    });
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { kind: 'timeout' };
    return { kind: 'network', error: e.cause?.code ?? e.message };
  }
  let json: { data?: T; errors?: [] } | undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { kind: 'answer', status: res.status, text, data: json?.data ?? undefined, errors: json?.errors };
}

type Outcome =
  | { kind: 'acked'; id: string; last4: string }
  | { kind: 'failed'; detail: string }
  | { kind: 'cut'; detail: string }
  | { kind: 'unexpected'; detail: string };

/** What a tokenization of `number` came back as. Details never hold a card number. */
function classify(
  answer: Answer<{ tokenizeCard: { __typename: string; paymentMethod?: { id: string; card: { last4: string } | null } } }>,
  number: string,
): Outcome {
  if (answer.kind === 'timeout') return { kind: 'unexpected', detail: `no answer within ${HANG_MS} ms (hang)` };
  if (answer.kind === 'network') return { kind: 'cut', detail: answer.error };
  // Card data may appear in no answer: not the number sent, not anything shaped like a card number.
  if (answer.text.includes(number) || panLike(answer.text).length > 0)
    return { kind: 'unexpected', detail: `HTTP ${answer.status}: card data in the answer` };
  const result = answer.data?.tokenizeCard;
  if (answer.status === 200 && result?.__typename === 'TokenizeCardSuccess' && result.paymentMethod) {
    const last4 = result.paymentMethod.card?.last4 ?? '';
    if (!/^pm_/.test(result.paymentMethod.id) || last4 !== number.slice(-4))
      return { kind: 'unexpected', detail: 'success with a wrong id or last4' };
    return { kind: 'acked', id: result.paymentMethod.id, last4 };
  }
  const errors = answer.errors ?? [];
  const generic =
    errors.length > 0 && errors.every((e) => e.extensions?.code === 'INTERNAL_SERVER_ERROR' && e.message === 'Internal server error');
  if (answer.status >= 500 || (generic && !result))
    return { kind: 'failed', detail: `HTTP ${answer.status} ${errors.map((e) => e.extensions?.code).join(',')}` };
  const what = result?.__typename ?? errors.map((e) => `${e.extensions?.code}: ${e.message}`).join('; ');
  return { kind: 'unexpected', detail: `HTTP ${answer.status} ${what}`.slice(0, 300) };
}

// ---------------------------------------------------------------------------------------------------------
// Load: `workers` loops each sending one tokenization (a fresh card, no customer) after another until stopped.

interface Failure {
  sentIn: string;
  endedIn: string;
  detail: string;
}

interface Load {
  sent: number;
  inFlight: number;
  /** Acknowledged payment methods: id → last4, and when the request acknowledged was sent. */
  acked: Map<string, { last4: string; sentAt: number }>;
  /** last4 of every card sent (a stored row must hold one of them). */
  sentLast4: Set<string>;
  /** Each with the phase when it was sent and when it ended. */
  failed: Failure[];
  cut: Failure[];
  unexpected: Failure[];
  /** Send time of the latest request that was acknowledged. */
  lastAckSentAt: number;
  stop(): Promise<void>;
}

function startLoad(opts: { url: string; apiKey: string; workers: number; phase: () => string; stopOnCut?: boolean }): Load {
  let stopped = false;
  const load: Load = {
    sent: 0,
    inFlight: 0,
    acked: new Map(),
    sentLast4: new Set(),
    failed: [],
    cut: [],
    unexpected: [],
    lastAckSentAt: 0,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
  const worker = async () => {
    while (!stopped) {
      const number = nextCard();
      const sentAt = Date.now();
      const sentIn = opts.phase();
      load.sent++;
      load.sentLast4.add(number.slice(-4));
      load.inFlight++;
      const answer = await post(opts.url, opts.apiKey, TokenizeCardDocument, {
        input: { card: { number, expMonth: 12, expYear: EXP_YEAR, holderName: 'Fault Load' } },
      });
      load.inFlight--;
      const outcome = classify(answer, number);
      const phases = { sentIn, endedIn: opts.phase() };
      switch (outcome.kind) {
        case 'acked':
          load.acked.set(outcome.id, { last4: outcome.last4, sentAt });
          load.lastAckSentAt = Math.max(load.lastAckSentAt, sentAt);
          break;
        case 'failed':
          load.failed.push({ ...phases, detail: outcome.detail });
          break;
        case 'cut':
          load.cut.push({ ...phases, detail: outcome.detail });
          if (opts.stopOnCut) return;
          break;
        case 'unexpected':
          load.unexpected.push({ ...phases, detail: outcome.detail });
          break;
      }
      // After a failure, breathe: failing requests are fast, and the machine is shared.
      if (outcome.kind !== 'acked') await sleep(50);
    }
  };
  const done = Promise.all(Array.from({ length: opts.workers }, worker)).then(() => undefined);
  return load;
}

/** Reads every id through `url` and compares its last4: returns the ids that are missing or wrong. */
async function unreadable(url: string, apiKey: string, expected: Map<string, string | undefined>): Promise<string[]> {
  const bad: string[] = [];
  const ids = [...expected.keys()];
  // A few at a time: thousands of ids may be checked.
  const next = async (): Promise<void> => {
    for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
      const answer = await post(url, apiKey, PaymentMethodDocument, { id });
      const pm = answer.kind === 'answer' ? answer.data?.paymentMethod : undefined;
      const want = expected.get(id);
      if (!pm?.card || pm.id !== id || (want !== undefined && pm.card.last4 !== want)) {
        bad.push(`${id}: ${answer.kind === 'answer' ? `HTTP ${answer.status} ${pm ? `last4 ${pm.card?.last4}` : 'null'}` : answer.kind}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, next));
  return bad;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** `detail ×n` for each distinct detail: what the failures looked like. */
function tally(list: Failure[]): string {
  const counts = new Map<string, number>();
  for (const f of list) counts.set(f.detail, (counts.get(f.detail) ?? 0) + 1);
  return [...counts].map(([detail, n]) => `${detail} ×${n}`).join(', ') || 'none';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------

describe('faults', () => {
  it('Postgres restarted while tokenizations run: clean failures, recovery without a server restart, nothing acknowledged lost', async () => {
    const cluster = await startPgCluster();
    onCleanup(() => cluster.drop());
    const databaseUrl = await cluster.createDatabase('vault');
    const server = await startServer(databaseUrl);
    const merchant: CreatedMerchant = await withTestApp(databaseUrl, (app) => createMerchant(app, { name: 'faults: postgres restart' }));

    // Phases, by which each answer is told apart: before, then per fault outage (from the stop on), recovering
    // (from the start until a request sent after it is acknowledged), after.
    let phase = 'before';
    const load = startLoad({ url: server.url, apiKey: merchant.secretKey, workers: 4, phase: () => phase });
    // Two faults: a fast shutdown (sessions terminated, checkpoint) and a crash (immediate: no checkpoint,
    // WAL recovery on start). Each keeps the database away for 3 s while the load goes on.
    const faults = ['fast', 'immediate'] as const;
    try {
      await waitFor('a first acknowledged tokenization', () => load.acked.size >= 10, 60_000);
      for (const mode of faults) {
        phase = `outage:${mode}`;
        await cluster.stop(mode);
        await sleep(3_000);
        await cluster.start();
        const restartedAt = Date.now();
        phase = `recovering:${mode}`;
        // Recovered: requests sent after the restart are acknowledged again, by the same server process.
        await waitFor(`a tokenization acknowledged after the ${mode} restart`, () => load.lastAckSentAt > restartedAt, 60_000);
        phase = `after:${mode}`;
        await sleep(2_000);
      }
    } finally {
      await load.stop();
    }

    // The server was never restarted: the same process, still running, now serves every request.
    expect(server.child.exitCode).toBeNull();
    expect(server.child.signalCode).toBeNull();
    const after = await Promise.all(
      Array.from({ length: 10 }, () => {
        const number = nextCard();
        return post(server.url, merchant.secretKey, TokenizeCardDocument, {
          input: { card: { number, expMonth: 1, expYear: EXP_YEAR } },
        }).then((a) => classify(a, number));
      }),
    );
    for (const o of after) if (o.kind === 'acked') load.acked.set(o.id, { last4: o.last4, sentAt: Date.now() });

    // Every acknowledged tokenization is readable with its last4, and stored exactly once.
    const lost = await unreadable(server.url, merchant.secretKey, new Map([...load.acked].map(([id, a]) => [id, a.last4])));
    const rows = await sql<{ id: string }>(databaseUrl, 'SELECT id FROM payment_methods WHERE merchant_id = $1', [merchant.merchantId]);
    const chain = await withTestApp(databaseUrl, (app) => verifyAuditChain(app, merchant.merchantId));

    // A request overlapped an outage if it was sent or answered while the database was away or coming back.
    const outage = new Set(faults.flatMap((m) => [`outage:${m}`, `recovering:${m}`]));
    const duringOutage = load.failed.filter((f) => outage.has(f.sentIn) || outage.has(f.endedIn));
    const outside = load.failed.filter((f) => !outage.has(f.sentIn) && !outage.has(f.endedIn));
    console.log(
      `[faults] postgres restart: faults injected ${faults.length} (${faults.join(', ')}), sent ${load.sent + after.length}, ` +
        `acknowledged ${load.acked.size}, failed ${load.failed.length} (during the outages ${duringOutage.length}, outside them ${outside.length}), ` +
        `connections cut ${load.cut.length}, unexpected ${load.unexpected.length}, rows ${rows.length} ` +
        `(stored but not acknowledged ${rows.length - load.acked.size}), records checked ${load.acked.size}, lost ${lost.length}, ` +
        `audit events ${chain.events}; failures: ${tally(load.failed)}`,
    );
    expect(load.unexpected, 'hangs, other errors or card data in answers').toEqual([]);
    // The server answers while the database is away: it never drops the connection.
    expect(load.cut, 'connections cut by the server').toEqual([]);
    expect(duringOutage.length, 'requests that failed during the outages (the faults were felt)').toBeGreaterThan(0);
    expect(outside, 'requests that failed while the database was up').toEqual([]);
    expect(
      after.map((o) => o.kind),
      'tokenizations after recovery',
    ).toEqual(after.map(() => 'acked'));
    expect(lost, 'acknowledged tokenizations not readable').toEqual([]);
    expect(rows.length).toBeGreaterThanOrEqual(load.acked.size);
    expect(rows.length).toBeLessThanOrEqual(load.sent + after.length);
    expect(chain.firstBad, 'audit chain').toBeUndefined();
  }, 300_000);

  it('server SIGKILLed mid-load: after a new server starts on the same database, nothing acknowledged is lost and no row is partial', async () => {
    const database = await createTestDatabase();
    onCleanup(() => database.drop());
    // A pool as large as the load: every request is inside the database when the process dies.
    const env = { DATABASE_POOL_SIZE: '16', VAULT_STATEMENT_TIMEOUT_MS: '15000' };
    const first = await startServer(database.url, env);
    const merchant = await withTestApp(database.url, (app) => createMerchant(app, { name: 'faults: server killed' }));

    let phase = 'running';
    const load = startLoad({ url: first.url, apiKey: merchant.secretKey, workers: 16, phase: () => phase, stopOnCut: true });
    let inFlightAtKill = 0;
    try {
      await waitFor('tokenizations acknowledged under load', () => load.acked.size >= 30 && load.inFlight >= 8, 90_000);
      inFlightAtKill = load.inFlight;
      phase = 'killed';
      await stopProcess(first.child, 'SIGKILL');
    } finally {
      await load.stop();
    }
    expect(first.child.signalCode).toBe('SIGKILL');

    // A new process on the same database; the old one's transactions were rolled back when its sockets closed.
    const second = await startServer(database.url, env);
    const rows = await sql<{ id: string; last4: string }>(database.url, 'SELECT id, last4 FROM payment_methods WHERE merchant_id = $1', [
      merchant.merchantId,
    ]);
    const audited = await sql<{ entity_id: string }>(
      database.url,
      "SELECT entity_id FROM audit_events WHERE merchant_id = $1 AND action = 'payment_method.create'",
      [merchant.merchantId],
    );
    const rowIds = new Set(rows.map((r) => r.id));
    // Every row, acknowledged or not, must read back whole; acknowledged ones with the last4 that was sent.
    const expected = new Map<string, string | undefined>(rows.map((r) => [r.id, load.acked.get(r.id)?.last4]));
    for (const [id, a] of load.acked) expected.set(id, a.last4);
    const bad = await unreadable(second.url, merchant.secretKey, expected);
    const lost = [...load.acked.keys()].filter((id) => !rowIds.has(id));
    const strangers = rows.filter((r) => !load.sentLast4.has(r.last4)).map((r) => r.id);
    const chain = await withTestApp(database.url, (app) => verifyAuditChain(app, merchant.merchantId));

    console.log(
      `[faults] server SIGKILL: faults injected 1, sent ${load.sent}, in flight at the kill ${inFlightAtKill}, ` +
        `acknowledged ${load.acked.size}, cut ${load.cut.length} (${tally(load.cut)}), failed ${load.failed.length}, unexpected ${load.unexpected.length} (${tally(load.unexpected)}), ` +
        `rows ${rows.length} (unacknowledged but stored ${rows.length - (load.acked.size - lost.length)}), records checked ${expected.size}, ` +
        `unreadable ${bad.length}, lost ${lost.length}, audit events ${chain.events}`,
    );
    expect(load.unexpected, 'hangs, other errors or card data in answers').toEqual([]);
    expect(inFlightAtKill, 'requests in flight when the server was killed').toBeGreaterThan(0);
    expect(lost, 'acknowledged but not stored').toEqual([]);
    expect(bad, 'rows or acknowledged ids not readable through the API').toEqual([]);
    expect(strangers, 'rows whose last4 was never sent').toEqual([]);
    expect(rows.length).toBeGreaterThanOrEqual(load.acked.size);
    expect(rows.length).toBeLessThanOrEqual(load.sent);
    // Each row was created with its audit event, in one transaction: no row without it, no event without its row.
    expect(new Set(audited.map((a) => a.entity_id))).toEqual(rowIds);
    expect(chain.firstBad, 'audit chain').toBeUndefined();
  }, 300_000);

  it('two servers started at once on one fresh database: migrations applied once, duplicates and single-use tokens hold across them', async () => {
    const database = await createTestDatabase();
    onCleanup(() => database.drop());
    // Spawned in the same tick: both migrate the empty database on start, one waits for the other's lock.
    const started = await Promise.allSettled([startServer(database.url), startServer(database.url)]);
    const [a, b] = started.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value;
    }) as [Awaited<ReturnType<typeof startServer>>, Awaited<ReturnType<typeof startServer>>];

    const migrations = readdirSync(new URL('../../prisma/migrations', import.meta.url), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    const applied = await sql<{ migration_name: string; n: number }>(
      database.url,
      'SELECT migration_name, count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL GROUP BY 1 ORDER BY 1',
    );
    const total = await sql<{ n: number }>(database.url, 'SELECT count(*)::int AS n FROM _prisma_migrations');
    expect(applied).toEqual(migrations.map((migration_name) => ({ migration_name, n: 1 })));
    expect(total[0]?.n).toBe(migrations.length);

    const merchant = await withTestApp(database.url, (app) => createMerchant(app, { name: 'faults: two servers' }));
    const clients = [a, b].map((s) => createVaultClient({ url: s.url, apiKey: merchant.secretKey }));
    const via = (i: number) => clients[i % 2]!;

    // The same card for the same customer, 12 times at once, half through each server: one payment method.
    const customer = await clients[0]!.request(CreateCustomerDocument, { input: { name: 'Two Servers' } });
    if (customer.createCustomer.__typename !== 'CreateCustomerSuccess') throw new Error(customer.createCustomer.__typename);
    const customerId = customer.createCustomer.customer.id;
    const number = nextCard();
    const dupes = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        via(i).request(TokenizeCardDocument, { input: { customerId, card: { number, expMonth: 5, expYear: EXP_YEAR } } }),
      ),
    );
    const kinds = dupes.map((r) => r.tokenizeCard.__typename);
    const successes = dupes.flatMap((r) => (r.tokenizeCard.__typename === 'TokenizeCardSuccess' ? [r.tokenizeCard] : []));
    const ids = new Set(successes.map((s) => s.paymentMethod.id));
    const firsts = successes.filter((s) => !s.duplicate).length;

    // One single-use card token, spent 12 times at once across both servers: exactly one use.
    const tokenNumber = nextCard();
    const created = await createVaultClient({ url: b.url, apiKey: merchant.publishableKey }).request(CreateCardTokenDocument, {
      input: { card: { number: tokenNumber, expMonth: 7, expYear: EXP_YEAR, cvc: '123' } },
    });
    if (created.createCardToken.__typename !== 'CreateCardTokenSuccess') throw new Error(created.createCardToken.__typename);
    const token = created.createCardToken.token.id;
    const uses = await Promise.all(Array.from({ length: 12 }, (_, i) => via(i).request(TokenizeCardDocument, { input: { token } })));
    const useKinds = uses.map((r) => r.tokenizeCard.__typename);
    const rows = await sql<{ n: number }>(database.url, 'SELECT count(*)::int AS n FROM payment_methods WHERE merchant_id = $1', [
      merchant.merchantId,
    ]);

    console.log(
      `[faults] two servers: both up (pids ${a.child.pid}, ${b.child.pid}), migrations ${applied.length}/${migrations.length} applied once; ` +
        `duplicates: sent 12, successes ${successes.length}, distinct ids ${ids.size}, duplicate:false ${firsts}; ` +
        `token: sent 12, successes ${useKinds.filter((k) => k === 'TokenizeCardSuccess').length}, ` +
        `already used ${useKinds.filter((k) => k === 'TokenAlreadyUsedError').length}; payment methods stored ${rows[0]?.n}`,
    );
    expect(kinds).toEqual(kinds.map(() => 'TokenizeCardSuccess'));
    expect(ids.size).toBe(1);
    expect(firsts).toBe(1);
    expect(useKinds.filter((k) => k === 'TokenizeCardSuccess')).toHaveLength(1);
    expect(useKinds.filter((k) => k === 'TokenAlreadyUsedError')).toHaveLength(11);
    expect(rows[0]?.n).toBe(2);
  }, 240_000);
});
