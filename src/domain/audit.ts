import { createHash } from 'node:crypto';
import { db, type Prisma, type Tx } from '../db/client.js';
import type { AuditEvent, Mode } from '../generated/prisma/client.js';
import { newId } from '../ids.js';
import type { Query } from './customers.js';
import type { Principal } from './principal.js';

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

export type AuditOutcome = 'success' | 'denied' | 'failed';

export interface AuditEntry {
  /** `<entity>.<verb>`, e.g. `payment_method.reveal`. */
  action: string;
  entityType: string;
  entityId?: string | null;
  outcome: AuditOutcome;
  /** Small, non-secret facts (a host, a status); never card data. */
  detail?: Record<string, string | number | boolean | null>;
}

export const GENESIS_HASH = '0'.repeat(64);
/** First half of the advisory-lock key; the second is the merchant id's hash. */
const AUDIT_LOCK_CLASS = 72707370;

export function actorOf(principal: Principal, requestId: string): AuditActor {
  return { merchantId: principal.merchantId, mode: principal.mode, keyId: principal.keyId, requestId };
}

/** The operator acting through the CLI. */
export function operatorActor(merchantId: string, mode: Mode | null = null): AuditActor {
  return { merchantId, mode, keyId: 'cli', requestId: `cli-${process.pid}` };
}

type Hashed = Pick<
  AuditEvent,
  'merchantId' | 'seq' | 'id' | 'mode' | 'action' | 'entityType' | 'entityId' | 'keyId' | 'requestId' | 'outcome' | 'detail' | 'at' | 'prevHash'
>;

/** JSON with object keys sorted at every level: jsonb does not keep key order, the hash must not depend on it. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.keys(value as object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

export function eventHash(e: Hashed): string {
  const fields = [
    e.merchantId,
    e.seq.toString(),
    e.id,
    e.mode,
    e.action,
    e.entityType,
    e.entityId,
    e.keyId,
    e.requestId,
    e.outcome,
    canonical(e.detail),
    e.at.toISOString(),
  ];
  return createHash('sha256').update(e.prevHash).update('\n').update(canonical(fields)).digest('hex');
}

/** Appends one event in the caller's transaction (or its own, given the plain client). */
export async function appendAudit(client: Tx | Prisma, actor: AuditActor, entry: AuditEntry, at = new Date()): Promise<AuditEvent> {
  const write = async (tx: Tx) => {
    await tx.$queryRaw`SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(${AUDIT_LOCK_CLASS}::int, hashtext(${actor.merchantId})::int)) AS l`;
    const last = await tx.auditEvent.findFirst({
      where: { merchantId: actor.merchantId },
      orderBy: { seq: 'desc' },
      select: { seq: true, hash: true },
    });
    const event: Hashed = {
      merchantId: actor.merchantId,
      seq: (last?.seq ?? 0n) + 1n,
      id: newId('aud'),
      mode: actor.mode,
      action: entry.action,
      entityType: entry.entityType,
      entityId: entry.entityId ?? null,
      keyId: actor.keyId,
      requestId: actor.requestId,
      outcome: entry.outcome,
      detail: entry.detail ?? null,
      at,
      prevHash: last?.hash ?? GENESIS_HASH,
    };
    return tx.auditEvent.create({ data: { ...event, detail: event.detail ?? undefined, hash: eventHash(event) } });
  };
  return '$transaction' in client ? client.$transaction(write) : write(client);
}

/** A merchant's events visible to a key: its own mode's and the merchant-wide ones; newest first. */
export function listAuditEvents(principal: Principal, query: Query, entityId?: string | null) {
  return db().prisma.auditEvent.findMany({
    ...(query as {}),
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

/** Re-computes every merchant's chain (or one's), in batches; stops at the first bad event. */
export async function verifyAuditChain(merchantId?: string, batchSize = 1000): Promise<ChainReport> {
  const { prisma } = db();
  const merchants = merchantId
    ? [merchantId]
    : (await prisma.auditEvent.findMany({ distinct: ['merchantId'], select: { merchantId: true } })).map((r) => r.merchantId);
  let events = 0;
  for (const m of merchants) {
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1n;
    for (;;) {
      const batch = await prisma.auditEvent.findMany({
        where: { merchantId: m, seq: { gte: expectedSeq } },
        orderBy: { seq: 'asc' },
        take: batchSize,
      });
      for (const e of batch) {
        events++;
        const bad = (problem: string): ChainReport => ({ merchants: merchants.length, events, firstBad: { merchantId: m, seq: e.seq, id: e.id, problem } });
        if (e.seq !== expectedSeq) return bad(`sequence jumps from ${expectedSeq - 1n} to ${e.seq}: events are missing`);
        if (e.prevHash !== prevHash) return bad('does not link to the previous event');
        if (eventHash(e) !== e.hash) return bad('its content does not match its hash: it was altered');
        prevHash = e.hash;
        expectedSeq++;
      }
      if (batch.length < batchSize) break;
    }
  }
  return { merchants: merchants.length, events };
}
