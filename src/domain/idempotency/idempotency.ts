import type { App } from '../../app/app.js';
import { completeKey, deleteExpiredKeys, deleteKeyIfUnchanged, findKeyRow, insertClaim } from './store.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyedDigest, type DigestPurpose } from '../../crypto/keyedDigest.js';
import { openField } from '../../db/encryption.js';
import type { IdempotencyKey } from '../../generated/prisma/client.js';
import type { Principal } from '../shared/principal.js';

// Idempotency keys. A row per (merchant, mode, key) records the fingerprint of the first request and, once
// it finished, its response (sealed) and the payment methods and customers it refers to. The primary key
// decides who acts: of any number of concurrent requests with one key, across processes, exactly one inserts
// the row and executes; the others wait for its response and replay it.
//
// What is never kept: a response that can hold full card data (the plugin, src/http/plugins/idempotency.ts, decides from
// the operation's root fields and their result types). What does not outlive its subject: deleting or
// purging a payment method or customer, by whatever path, deletes every row whose `refs` name it (a
// database trigger, migration 20261130020000). Row ids and fingerprints are keyed HMACs (crypto/keyedDigest).

const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * An IN_PROGRESS row this old is presumed orphaned (its process died before recording the outcome) and may
 * be taken over, so a crash cannot block a key for 24 hours. The price: a request still running after this
 * long would be executed a second time by a retry. Every mutation finishes far sooner.
 */
export const IDEMPOTENCY_STALE_MS = 60 * 1000;
/** How long a concurrent request waits for the first one's response before answering `busy`. */
const IDEMPOTENCY_WAIT_MS = 15 * 1000;
const POLL_MS = 25;

/** Proof that this caller holds the key: completing or abandoning touches only the row it claimed. */
export interface Claim {
  merchantId: string;
  id: string;
  claimedAt: Date;
}

/** begin() failed while claiming: the claim may or may not exist (see `cause`). */
export class UncertainClaim extends Error {
  override name = 'UncertainClaim';
  constructor(
    readonly claim: Claim,
    override readonly cause: unknown,
  ) {
    super('claiming the idempotency key failed');
  }
}

export type BeginOutcome =
  | { kind: 'execute'; claim: Claim }
  | { kind: 'replay'; response: object }
  | { kind: 'conflict' }
  | { kind: 'busy' };

export interface IdempotentRequest {
  operationName: string | null;
  /** The printed (normalised) document. */
  document: string;
  variables: unknown;
}

/**
 * What makes two requests "the same". The api key that sent it is part of it: a replay skips authorization
 * and is not audited, so a stored response goes back only to the key that produced it (and was audited
 * producing it). Another key of the merchant sending the same Idempotency-Key gets IDEMPOTENCY_CONFLICT:
 * neither the first response nor a second execution (a retry after a key rotation must not pay twice).
 * Kind and reveal permission stay in as well, should a key ever change them. So does the profile scope
 * (x-profile-id): a response produced in one profile never goes back to a request in another.
 */
export async function requestFingerprint(app: App, principal: Principal, request: IdempotentRequest): Promise<string> {
  return digest(
    app,
    principal,
    'idempotency-request',
    canonicalJson({
      operationName: request.operationName,
      document: request.document,
      variables: request.variables ?? {},
      authority: {
        keyId: principal.keyId,
        kind: principal.kind,
        allowReveal: principal.allowReveal,
        // Only when set: requests without the header keep the fingerprints they had before profiles existed.
        ...(principal.profileScope !== undefined && { profileScope: principal.profileScope }),
      },
    }),
  );
}

/** Claims the key for this request, or says why not: replay the stored response, conflict, or still busy. */
export async function begin(app: App, principal: Principal, key: string, fingerprint: string, now = app.clock()): Promise<BeginOutcome> {
  const { keyring } = app.db;
  const ids = { merchantId: principal.merchantId, id: await rowId(app, principal, key) };
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  for (;;) {
    const at = new Date(now.getTime() + elapsed());
    let claimed: boolean;
    try {
      claimed = await insertClaim(app, ids, fingerprint, at, new Date(at.getTime() + IDEMPOTENCY_TTL_MS));
    } catch (err) {
      // The connection may have failed after the insert committed: the caller releases the claim it may hold.
      throw new UncertainClaim({ ...ids, claimedAt: at }, err);
    }
    if (claimed) return { kind: 'execute', claim: { ...ids, claimedAt: at } };
    const row = await findKeyRow(app, ids);
    if (!row) continue;
    if (!isLive(row, at)) {
      // Conditional on the state read, so a claim or completion made meanwhile by another caller survives.
      await deleteKeyIfUnchanged(app, ids, row.createdAt, row.status);
      continue;
    }
    if (row.requestHash !== fingerprint) return { kind: 'conflict' };
    if (row.status === 'COMPLETED') {
      const response = await openField(keyring, 'IdempotencyKey', 'response', row);
      if (response === null) throw new Error(`idempotency key ${row.id} is completed without a response`);
      return { kind: 'replay', response };
    }
    if (elapsed() >= IDEMPOTENCY_WAIT_MS) return { kind: 'busy' };
    await sleep(POLL_MS + Math.random() * POLL_MS);
  }
}

/**
 * Stores the response of the claimed request, with the ids of the payment methods and customers it refers
 * to (`refs`: deleting one of them deletes the row). False when the claim was lost (taken over as stale).
 */
export async function complete(app: App, claim: Claim, response: object, refs: Iterable<string> = []): Promise<boolean> {
  return completeKey(app, { merchantId: claim.merchantId, id: claim.id }, claim.claimedAt, response, [...new Set(refs)].sort());
}

/** Releases the claim without a response, so that a retry acts (after an unexpected fault). */
export async function abandon(app: App, claim: Claim): Promise<void> {
  await deleteKeyIfUnchanged(app, { merchantId: claim.merchantId, id: claim.id }, claim.claimedAt, 'IN_PROGRESS');
}

/** Deletes keys past their 24 hours. */
export async function sweepIdempotencyKeys(app: App, now = app.clock()): Promise<number> {
  return deleteExpiredKeys(app, now);
}

/**
 * Keys are the client's strings: HMAC'd with the mode so test and live keys of a merchant never meet. Not
 * the api key: the same Idempotency-Key from another key of the merchant meets this row and conflicts
 * (requestFingerprint) rather than acting a second time.
 */
function rowId(app: App, principal: Principal, key: string): Promise<string> {
  return digest(app, principal, 'idempotency-key', `${principal.mode}:${key}`);
}

async function digest(app: App, principal: Principal, purpose: DigestPurpose, text: string): Promise<string> {
  // The merchant's keys are already loaded for the request (context), so this is a cache lookup. The mode's
  // own fingerprint key: never rotated, and test and live never share one.
  const key = await app.db.keyring.fingerprintKey(principal.merchantId, principal.mode);
  return keyedDigest(key.reveal(), purpose, text);
}

function isLive(row: IdempotencyKey, at: Date): boolean {
  if (row.expiresAt <= at) return false;
  return row.status === 'COMPLETED' || at.getTime() - row.createdAt.getTime() < IDEMPOTENCY_STALE_MS;
}

/** JSON with object keys sorted at every depth: equal values give equal strings. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
