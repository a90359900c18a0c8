import type { App } from '../../app/app.js';
import type { Tx } from '../../db/client.js';
import type { Prisma as P, PaymentStatus } from '../../generated/prisma/client.js';
import type { Query } from '../customers/store.js';
import { owner, tenant, type Principal, type Tenant } from '../shared/principal.js';

// The payment store: every statement on `payments`, once (through Prisma: the encryption extension seals
// the expiry, the holder, the pending card and the challenge URL on write). The rules are in payments.ts.

/** A new payment's columns, the sealed ones as their plaintext (encoded by their codecs). */
export type NewPaymentRow = Omit<P.PaymentUncheckedCreateInput, 'merchantId' | 'mode' | 'profileId' | 'createdAt' | 'updatedAt'>;

export function insertPayment(tx: Tx, principal: Principal, row: NewPaymentRow) {
  return tx.payment.create({ data: { ...owner(principal), ...row } });
}

export function findPaymentRow(app: App, principal: Tenant, id: string, query: Query = {}) {
  return app.db.prisma.payment.findFirst({ ...(query as object), where: { ...tenant(principal), id } });
}

/** A payment as the caller's transaction sees it (webhook payloads). */
export function findPaymentInTransaction(tx: Tx, principal: Tenant, id: string) {
  return tx.payment.findFirst({ where: { ...tenant(principal), id } });
}

/** A payment by its id alone, for the sandbox's challenge page (the challenge secret is the credential). */
export function findSandboxPayment(app: App, id: string, connectorId: string) {
  return app.db.prisma.payment.findFirst({ where: { id, connectorId } });
}

/** The payment a merchant committed under an Idempotency-Key (its digest), if any. */
export function findPaymentUnderKey(app: App, merchantId: string, idempotencyKeyId: string) {
  return app.db.prisma.payment.findFirst({ where: { merchantId, idempotencyKeyId } });
}

/** Gives a payment's Idempotency-Key back (the payment created at `createdAt` under it). */
export async function releasePaymentKey(app: App, merchantId: string, idempotencyKeyId: string, createdAt: Date): Promise<void> {
  await app.db.prisma.payment.updateMany({
    where: { merchantId, idempotencyKeyId, createdAt },
    data: { idempotencyKeyId: null, idempotencyRequestHash: null },
  });
}

/**
 * Gives back the Idempotency-Keys of payments whose idempotency record expired, found through the records (by
 * primary key and unique index, never by scanning payments). The instant goes as an ISO string (a Date through
 * Prisma's raw queries is read in the session's time zone).
 */
export function releaseExpiredPaymentKeys(app: App, now: Date): Promise<number> {
  return app.db.prisma.$executeRaw`
    UPDATE payments p SET idempotency_key_id = NULL, idempotency_request_hash = NULL
    FROM idempotency_keys k
    WHERE k.expires_at <= ${now.toISOString()}::timestamptz AND p.merchant_id = k.merchant_id AND p.idempotency_key_id = k.id`;
}

/**
 * Moves a payment out of one of `from` states; false when it was in none of them (the status in the WHERE
 * clause decides races: exactly one transition wins).
 */
export async function transitionPayment(
  tx: Tx,
  key: { merchantId: string; mode?: Tenant['mode']; id: string },
  from: readonly PaymentStatus[],
  data: P.PaymentUpdateManyMutationInput,
): Promise<boolean> {
  const { count } = await tx.payment.updateMany({ where: { ...key, status: { in: [...from] } }, data });
  return count === 1;
}

/** The payment method a completed challenge saved. */
export async function setSavedPaymentMethod(app: App, merchantId: string, id: string, paymentMethodId: string): Promise<void> {
  await app.db.prisma.payment.update({ where: { merchantId_id: { merchantId, id } }, data: { savedPaymentMethodId: paymentMethodId } });
}

/** A payment by its primary key, which must exist. */
export function getPaymentRow(app: App, merchantId: string, id: string) {
  return app.db.prisma.payment.findFirstOrThrow({ where: { merchantId, id } });
}
