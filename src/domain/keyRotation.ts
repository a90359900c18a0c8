import { rewrapDataKey } from '../crypto/dataKeys.js';
import { db } from '../db/client.js';
import { audited, operatorActor } from './audit.js';

/**
 * Re-wraps every data key that is not yet under the active master key. Data keys themselves do not change,
 * so rows stay readable and running servers (which cache unwrapped keys) keep serving throughout; each row
 * is updated only if still wrapped as it was read, so two concurrent runs cannot clobber each other.
 * Operators add the new master key first in VAULT_MASTER_KEYS of every process, run this, and retire the
 * old key only after it reports nothing left.
 */
export async function rewrapDataKeys(onProgress?: (done: number, total: number) => void): Promise<{ rewrapped: number; total: number }> {
  const { prisma, keyring } = db();
  const active = keyring.master.active.id;
  const stale = await prisma.dataKey.findMany({ where: { masterKeyId: { not: active } } });
  let rewrapped = 0;
  for (const row of stale) {
    const wrapped = rewrapDataKey(keyring.master, { merchantId: row.merchantId, dataKeyId: row.id, purpose: row.purpose }, row);
    const count = await audited(
      operatorActor(row.merchantId),
      async (tx) =>
        (
          await tx.dataKey.updateMany({
            where: { merchantId: row.merchantId, id: row.id, masterKeyId: row.masterKeyId, wrappedKey: row.wrappedKey },
            data: wrapped,
          })
        ).count,
      (n) =>
        n ? [{ action: 'data_key.rewrap', entityType: 'data_key', entityId: row.id, outcome: 'success', detail: { from: row.masterKeyId, to: active } }] : [],
    );
    rewrapped += count;
    onProgress?.(rewrapped, stale.length);
  }
  return { rewrapped, total: await prisma.dataKey.count() };
}
