import type { App } from '../../app/app.js';
import { encodeField } from '../../db/encrypted-fields.js';
import { Prisma as P, type IdempotencyStatus } from '../../generated/prisma/client.js';

// The idempotency store: every statement on `idempotency_keys`, once (through Prisma: the encryption extension
// seals the stored response). The rules (claims, replays, conflicts) are in idempotency.ts.

type RowKey = { merchantId: string; id: string };

/** Inserts an IN_PROGRESS claim; false when the key is held already (insert-or-ignore on the primary key). */
export async function insertClaim(app: App, ids: RowKey, requestHash: string, createdAt: Date, expiresAt: Date): Promise<boolean> {
  const { count } = await app.db.prisma.idempotencyKey.createMany({
    data: [{ ...ids, requestHash, status: 'IN_PROGRESS', createdAt, expiresAt }],
    skipDuplicates: true,
  });
  return count === 1;
}

export function findKeyRow(app: App, ids: RowKey) {
  return app.db.prisma.idempotencyKey.findUnique({ where: { merchantId_id: ids } });
}

/** Deletes the row if it is still in the state read (a claim or completion made meanwhile survives). */
export async function deleteKeyIfUnchanged(app: App, ids: RowKey, createdAt: Date, status: IdempotencyStatus): Promise<void> {
  await app.db.prisma.idempotencyKey.deleteMany({ where: { ...ids, createdAt, status } });
}

/** Stores the response of an IN_PROGRESS claim made at `claimedAt`; false when the claim is gone. */
export async function completeKey(app: App, ids: RowKey, claimedAt: Date, response: object, refs: string[]): Promise<boolean> {
  try {
    await app.db.prisma.idempotencyKey.update({
      where: { merchantId_id: ids, status: 'IN_PROGRESS', createdAt: claimedAt },
      data: { status: 'COMPLETED', response: encodeField('IdempotencyKey', 'response', response), refs },
    });
    return true;
  } catch (err) {
    if (err instanceof P.PrismaClientKnownRequestError && err.code === 'P2025') return false;
    throw err;
  }
}

export async function deleteExpiredKeys(app: App, now: Date): Promise<number> {
  return (await app.db.prisma.idempotencyKey.deleteMany({ where: { expiresAt: { lte: now } } })).count;
}
