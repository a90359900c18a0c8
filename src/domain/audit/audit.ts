import type { App } from '../../app/app.js';
import type { Prisma, Tx } from '../../db/client.js';
import type { Mode } from '../../generated/prisma/client.js';
import { maskPans } from '../../card/pan.js';
import { maskIbans } from '../../card/bankAccount.js';
import { newId } from '../shared/ids.js';
import type { Query } from '../customers/customers.js';
import type { Principal } from '../shared/principal.js';

// The audit trail: append-only (triggers refuse UPDATE, DELETE and TRUNCATE) and hash-chained per merchant.
// An event is written in the transaction of the change it records, by one INSERT that takes no lock, so one
// merchant's writes never wait on each other. The sealer (./sealer.ts) links committed events into their
// merchant's chain within seconds: each link's hash covers the previous link's hash, the event's seq and
// every field of the event, so editing, deleting, inserting or reordering an event (after dropping the
// triggers) breaks the chain from there on, and a signed checkpoint (./checkpoint.ts) pins a chain head
// outside the database so that even a consistently rewritten chain is caught.

/** Who acted: an api key (with its request), or the operator through the CLI. */
export interface AuditActor {
  merchantId: string;
  /** The key's mode; null for operator actions on the merchant as a whole. */
  mode: Mode | null;
  keyId: string;
  requestId: string;
  /** The one profile the request acted in (x-profile-id, a restricted key, or the one a creation wrote into). */
  profileId?: string;
}

type AuditOutcome = 'success' | 'denied' | 'failed' | 'refused';

export interface AuditEntry {
  /** `<entity>.<verb>`, e.g. `payment_method.reveal`. */
  action: string;
  entityType: string;
  entityId?: string | null;
  outcome: AuditOutcome;
  /** Small, non-secret facts (a host, a status); never card data. */
  detail?: Record<string, string | number | boolean | null>;
}

const CARD_RANGES = { cardRangesOnly: true };

const GENESIS_HASH = '0'.repeat(64);
/** An event not linked into its chain this long after it was written fails `audit verify`. */
const UNSEALED_LIMIT_MS = 60_000;

export function actorOf(principal: Principal): AuditActor {
  return {
    merchantId: principal.merchantId,
    mode: principal.mode,
    keyId: principal.keyId,
    requestId: principal.requestId ?? `pid-${process.pid}`,
    ...(principal.profileScope !== undefined && { profileId: principal.profileScope }),
  };
}

/** An event's detail as stored: the entry's facts, and the profile the actor acted in (if one). */
export function detailOf(actor: AuditActor, detail: AuditEntry['detail']): AuditEntry['detail'] {
  return actor.profileId === undefined ? detail : { ...detail, profileId: actor.profileId };
}

/** The operator acting through the CLI. */
export function operatorActor(merchantId: string, mode: Mode | null = null): AuditActor {
  return { merchantId, mode, keyId: 'cli', requestId: `cli-${process.pid}` };
}

/**
 * An appended event: its id and global position. Its place in the chain (seq, prevHash, hash) does not exist
 * yet: the sealer assigns it after the transaction commits (an AuditLink row).
 */
export interface AppendedEvent {
  id: string;
  position: bigint;
}

/**
 * Appends one event in the caller's transaction (or, given the plain client, in a statement of its own):
 * one round trip to the database's audit_append(), a single INSERT that locks nothing.
 */
export async function appendAudit(client: Tx | Prisma, actor: AuditActor, entry: AuditEntry): Promise<AppendedEvent> {
  // Ids and request ids are validated where they come in (src/domain/shared/ids.ts, yoga's requestIdOf); this is the last
  // line: the table is append-only, so a card number (or an IBAN) written here could never be removed.
  const mask = (text: string) => maskIbans(maskPans(text, CARD_RANGES));
  const facts = detailOf(actor, entry.detail);
  const detail =
    facts === undefined
      ? null
      : JSON.stringify(Object.fromEntries(Object.entries(facts).map(([k, v]) => [k, typeof v === 'string' ? mask(v) : v])));
  const entityId = entry.entityId == null ? null : mask(entry.entityId);
  const requestId = mask(actor.requestId);
  const rows = await client.$queryRaw<AppendedEvent[]>`
    SELECT id, position FROM audit_append(
      ${actor.merchantId}, ${actor.mode}::"Mode", ${newId('aud')}, ${entry.action}, ${entry.entityType}, ${entityId},
      ${actor.keyId}, ${requestId}, ${entry.outcome}, ${detail}::jsonb)`;
  return rows[0]!;
}

/** Appends events in order, in the caller's transaction. */
async function appendAudits(tx: Tx, actor: AuditActor, entries: readonly AuditEntry[]): Promise<void> {
  for (const entry of entries) await appendAudit(tx, actor, entry);
}

/**
 * Runs `write` and appends the events it reports in one transaction: the change and its audit trail land
 * together or not at all.
 */
export async function audited<T>(
  app: App,
  actor: AuditActor,
  write: (tx: Tx) => Promise<T>,
  events: (result: T) => AuditEntry | readonly AuditEntry[],
): Promise<T> {
  return app.db.prisma.$transaction(async (tx) => {
    const result = await write(tx);
    const e = events(result);
    await appendAudits(tx, actor, Array.isArray(e) ? e : [e as AuditEntry]);
    return result;
  });
}

/**
 * A merchant's events visible to a key: its own mode's and the merchant-wide ones; newest first. A request
 * scoped to a profile (a restricted key, or x-profile-id) sees only the events of requests made in that
 * profile (`detail.profileId`, written by `detailOf`): nothing of another profile's activity, and none of
 * the merchant-wide events (operator actions, unscoped keys).
 */
export function listAuditEvents(app: App, principal: Principal, query: Query, entityId?: string | null) {
  return app.db.prisma.auditEvent.findMany({
    ...(query as object),
    where: {
      merchantId: principal.merchantId,
      ...(principal.profileScope === undefined
        ? { OR: [{ mode: principal.mode }, { mode: null }] }
        : { mode: principal.mode, detail: { path: ['profileId'], equals: principal.profileScope } }),
      ...(entityId ? { entityId } : {}),
    },
    orderBy: { position: 'desc' },
  });
}

/** A merchant's chain head as signed into a checkpoint (./checkpoint.ts). */
export interface ChainHead {
  merchantId: string;
  seq: bigint;
  hash: string;
}

export interface ChainReport {
  merchants: number;
  /** Events verified in their chains. */
  events: number;
  /** Events written but not linked yet (all younger than UNSEALED_LIMIT_MS, or firstBad names the oldest). */
  unsealed: number;
  /** The first event (in chain order) whose hash, link, sequence or order is wrong, or one left unsealed too long. */
  firstBad?: { merchantId: string; seq: bigint | null; id: string; problem: string };
}

export interface VerifyOptions {
  batchSize?: number;
  /** What "more than a minute" is measured from; default: the app's clock. */
  now?: Date;
  /** Heads the chains must still pass through (their signatures checked already: ./checkpoint.ts). */
  checkpoints?: readonly ChainHead[];
}

interface LinkRow {
  seq: bigint;
  prevHash: string;
  hash: string;
  id: string | null;
  position: bigint | null;
  computed: string | null;
}

/**
 * Walks every merchant's chain (or one's) in seq order, recomputing each hash with the database's
 * audit_event_hash (the one function the sealer links with). Fails on a gap, a link to anything but the
 * previous hash, an altered or removed event, links out of the sealer's (position) order, an event left
 * unsealed for more than a minute, and a chain that no longer passes through a checkpointed head. Reads
 * only: it seals nothing.
 */
export async function verifyAuditChain(app: App, merchantId?: string, options: VerifyOptions = {}): Promise<ChainReport> {
  const { prisma } = app.db;
  const batchSize = options.batchSize ?? 1000;
  const merchants = merchantId
    ? [merchantId]
    : (await prisma.$queryRaw<{ m: string }[]>`SELECT DISTINCT merchant_id AS m FROM audit_events ORDER BY 1`).map((r) => r.m);
  const checkpoints = new Map<string, ChainHead>();
  for (const c of options.checkpoints ?? []) {
    if (!merchantId || c.merchantId === merchantId) checkpoints.set(c.merchantId, c);
  }
  for (const m of checkpoints.keys()) if (!merchants.includes(m)) merchants.push(m);
  const only = merchantId ?? null;
  const [pending] = await prisma.$queryRaw<{ n: number; at: Date | null; id: string | null; merchantId: string | null }[]>`
    SELECT count(*)::int AS n, min(e.at) AS at, (array_agg(e.id ORDER BY e.at, e.position))[1] AS id,
           (array_agg(e.merchant_id ORDER BY e.at, e.position))[1] AS "merchantId"
      FROM audit_events e
     WHERE (${only}::text IS NULL OR e.merchant_id = ${only}::text)
       AND NOT EXISTS (SELECT 1 FROM audit_links l WHERE l.merchant_id = e.merchant_id AND l.position = e.position)`;
  const unsealed = pending?.n ?? 0;
  let events = 0;
  const report = (firstBad?: ChainReport['firstBad']): ChainReport => ({
    merchants: merchants.length,
    events,
    unsealed,
    ...(firstBad && { firstBad }),
  });
  for (const m of merchants) {
    const checkpoint = checkpoints.get(m);
    let prevHash = GENESIS_HASH;
    let lastSeq = 0n;
    let lastPosition = 0n;
    for (;;) {
      const batch = await prisma.$queryRaw<LinkRow[]>`
        SELECT l.seq, l.prev_hash AS "prevHash", l.hash, e.id, e.position,
               CASE WHEN e.id IS NULL THEN NULL ELSE audit_event_hash(e, l.seq, l.prev_hash) END AS computed
          FROM audit_links l LEFT JOIN audit_events e ON e.merchant_id = l.merchant_id AND e.position = l.position
         WHERE l.merchant_id = ${m} AND l.seq > ${lastSeq} ORDER BY l.seq LIMIT ${batchSize}`;
      for (const e of batch) {
        events++;
        const bad = (problem: string) => report({ merchantId: m, seq: e.seq, id: e.id ?? '(removed)', problem });
        if (e.seq !== lastSeq + 1n) return bad(`sequence jumps from ${lastSeq} to ${e.seq}: events are missing`);
        if (e.id === null || e.position === null) return bad('its event was removed');
        if (e.prevHash !== prevHash) return bad('does not link to the previous event');
        if (e.computed !== e.hash) return bad('its content does not match its hash: it was altered');
        if (e.position <= lastPosition) {
          return bad('it is out of the order the sealer links events in: events were reordered');
        }
        if (checkpoint && e.seq === checkpoint.seq && e.hash !== checkpoint.hash) {
          return bad(`its hash differs from the checkpoint of #${checkpoint.seq}: the chain was rewritten`);
        }
        prevHash = e.hash;
        lastSeq = e.seq;
        lastPosition = e.position;
      }
      if (batch.length < batchSize) break;
    }
    if (checkpoint && lastSeq < checkpoint.seq) {
      return report({
        merchantId: m,
        seq: checkpoint.seq,
        id: '(removed)',
        problem: `the chain ends at #${lastSeq}, before the checkpoint of #${checkpoint.seq}: events were removed`,
      });
    }
  }
  const now = options.now ?? app.clock();
  if (pending?.at && pending.id && pending.merchantId && now.getTime() - pending.at.getTime() > UNSEALED_LIMIT_MS) {
    return report({
      merchantId: pending.merchantId,
      seq: null,
      id: pending.id,
      problem: `left unsealed since ${pending.at.toISOString()}, more than a minute: no sealer runs, or it cannot link it`,
    });
  }
  return report();
}
