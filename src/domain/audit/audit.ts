import type { App } from '../../app/app.js';
import type { Prisma, Tx } from '../../db/client.js';
import type { Mode } from '../../generated/prisma/client.js';
import { maskPans } from '../../card/pan.js';
import { newId } from '../shared/ids.js';
import type { Query } from '../customers/customers.js';
import type { Principal } from '../shared/principal.js';

// The audit trail: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE) and hash-chained per merchant.
// Each event's hash covers the previous event's hash and every field of the event, so editing, deleting or
// reordering a row (after dropping the trigger) breaks the chain from that event on. Events are written in
// the transaction of the change they record; a per-merchant advisory lock orders concurrent writers, so
// `seq` has no gaps and each event chains onto the one before it.

/** Who acted: an api key (with its request), or the operator through the CLI. */
export interface AuditActor {
  merchantId: string;
  /** The key's mode; null for operator actions on the merchant as a whole. */
  mode: Mode | null;
  keyId: string;
  requestId: string;
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

export function actorOf(principal: Principal): AuditActor {
  return {
    merchantId: principal.merchantId,
    mode: principal.mode,
    keyId: principal.keyId,
    requestId: principal.requestId ?? `pid-${process.pid}`,
  };
}

/** The operator acting through the CLI. */
export function operatorActor(merchantId: string, mode: Mode | null = null): AuditActor {
  return { merchantId, mode, keyId: 'cli', requestId: `cli-${process.pid}` };
}

export interface AppendedEvent {
  id: string;
  seq: bigint;
  prevHash: string;
  hash: string;
}

/**
 * Appends one event in the caller's transaction (or, given the plain client, in a statement of its own):
 * one round trip to the database's audit_append(), which locks the merchant's chain until the transaction
 * ends, numbers the event and computes its hash.
 */
export async function appendAudit(client: Tx | Prisma, actor: AuditActor, entry: AuditEntry): Promise<AppendedEvent> {
  // Ids and request ids are validated where they come in (src/domain/shared/ids.ts, yoga's requestIdOf); this is the last
  // line: the table is append-only, so a card number written here could never be removed.
  const detail =
    entry.detail === undefined
      ? null
      : JSON.stringify(
          Object.fromEntries(Object.entries(entry.detail).map(([k, v]) => [k, typeof v === 'string' ? maskPans(v, CARD_RANGES) : v])),
        );
  const entityId = entry.entityId == null ? null : maskPans(entry.entityId, CARD_RANGES);
  const requestId = maskPans(actor.requestId, CARD_RANGES);
  const rows = await client.$queryRaw<AppendedEvent[]>`
    SELECT id, seq, prev_hash AS "prevHash", hash FROM audit_append(
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

/** A merchant's events visible to a key: its own mode's and the merchant-wide ones; newest first. */
export function listAuditEvents(app: App, principal: Principal, query: Query, entityId?: string | null) {
  return app.db.prisma.auditEvent.findMany({
    ...(query as object),
    where: {
      merchantId: principal.merchantId,
      OR: [{ mode: principal.mode }, { mode: null }],
      ...(entityId ? { entityId } : {}),
    },
    orderBy: { seq: 'desc' },
  });
}

export interface ChainReport {
  merchants: number;
  events: number;
  /** The first event (in chain order) whose hash, link or sequence is wrong. */
  firstBad?: { merchantId: string; seq: bigint; id: string; problem: string };
}

/** Recomputes every merchant's chain (or one's) with the database's own hash function, in batches. */
export async function verifyAuditChain(app: App, merchantId?: string, batchSize = 1000): Promise<ChainReport> {
  const { prisma } = app.db;
  const merchants = merchantId
    ? [merchantId]
    : (await prisma.auditEvent.findMany({ distinct: ['merchantId'], select: { merchantId: true } })).map((r) => r.merchantId);
  let events = 0;
  for (const m of merchants) {
    let prevHash = GENESIS_HASH;
    let lastSeq = 0n;
    for (;;) {
      const batch = await prisma.$queryRaw<{ seq: bigint; id: string; prevHash: string; hash: string; computed: string }[]>`
        SELECT seq, id, prev_hash AS "prevHash", hash, audit_event_hash(e) AS computed
          FROM audit_events e WHERE merchant_id = ${m} AND seq > ${lastSeq} ORDER BY seq LIMIT ${batchSize}`;
      for (const e of batch) {
        events++;
        const bad = (problem: string): ChainReport => ({
          merchants: merchants.length,
          events,
          firstBad: { merchantId: m, seq: e.seq, id: e.id, problem },
        });
        if (e.seq !== lastSeq + 1n) return bad(`sequence jumps from ${lastSeq} to ${e.seq}: events are missing`);
        if (e.prevHash !== prevHash) return bad('does not link to the previous event');
        if (e.computed !== e.hash) return bad('its content does not match its hash: it was altered');
        prevHash = e.hash;
        lastSeq = e.seq;
      }
      if (batch.length < batchSize) break;
    }
  }
  return { merchants: merchants.length, events };
}
