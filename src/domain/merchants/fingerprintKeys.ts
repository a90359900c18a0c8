import type { App } from '../../app/app.js';
import { lockMerchant } from './store.js';
import { setTestFingerprints, testCardsAfter } from '../paymentMethods/store.js';
import { bankAccountFingerprint, fingerprint } from '../../crypto/fingerprint.js';
import { accountIdentity } from '../../card/bankAccount.js';
import { Secret } from '../../crypto/secret.js';
import { generateDataKey, wrapDataKey } from '../../crypto/dataKeys.js';
import { openField } from '../../db/encryption.js';
import { newId } from '../shared/ids.js';
import { appendAudit, operatorActor } from '../audit/audit.js';

// The upgrade to fingerprint keys per mode. Until migration 20261130030000 a merchant had one fingerprint
// key for both modes; the migration made it the LIVE key (SQL alone: every live fingerprint stays valid).
// The TEST key cannot come from SQL (it is wrapped under a master key the database never sees), so this runs
// right after the migrations, wherever they run (server start, `vault db migrate`, any migrating CLI
// command): per merchant without one, in one transaction, it creates the TEST key and re-fingerprints the
// merchant's test-mode payment methods under it, so dedupe of cards vaulted before the upgrade keeps working.
// Test mode holds few cards (test cards), so this is quick; live rows are never touched. Idempotent: a
// merchant is done exactly when its TEST key exists, and concurrent runs serialise on the merchant's row.

const BATCH = 500;

export interface FingerprintUpgrade {
  merchants: number;
  refingerprinted: number;
}

/** Gives every merchant without one a TEST fingerprint key, re-fingerprinting its test-mode cards. */
export async function upgradeFingerprintKeys(app: App): Promise<FingerprintUpgrade> {
  const { prisma } = app.db;
  const missing = await prisma.$queryRaw<{ id: string }[]>`
    SELECT m.id FROM merchants m WHERE NOT EXISTS (
      SELECT 1 FROM data_keys k WHERE k.merchant_id = m.id AND k.purpose = 'FINGERPRINT' AND k.mode = 'TEST' AND k.active)
    ORDER BY m.id`;
  let merchants = 0;
  let refingerprinted = 0;
  for (const { id } of missing) {
    const n = await upgradeMerchant(app, id);
    if (n !== undefined) {
      merchants++;
      refingerprinted += n;
    }
  }
  return { merchants, refingerprinted };
}

/** The merchant's TEST key and its test cards re-fingerprinted; undefined when another run did it first. */
async function upgradeMerchant(app: App, merchantId: string): Promise<number | undefined> {
  const { prisma, keyring } = app.db;
  const result = await prisma.$transaction(
    async (tx) => {
      await lockMerchant(tx, merchantId);
      const done = await tx.dataKey.findFirst({
        where: { merchantId, purpose: 'FINGERPRINT', mode: 'TEST', active: true },
        select: { id: true },
      });
      if (done) return undefined;
      const id = newId('dk');
      const raw = generateDataKey();
      try {
        await tx.dataKey.create({
          data: {
            merchantId,
            id,
            purpose: 'FINGERPRINT',
            mode: 'TEST',
            ...wrapDataKey(keyring.master, { merchantId, dataKeyId: id, purpose: 'FINGERPRINT' }, raw),
          },
        });
        let count = 0;
        let after = '';
        for (;;) {
          const rows = await testCardsAfter(tx, merchantId, after, BATCH);
          if (rows.length === 0) break;
          const fps: string[] = [];
          for (const row of rows) {
            if (row.type === 'BANK_ACCOUNT') {
              const number = (await openField(keyring, 'PaymentMethod', 'accountNumber', row))!;
              const identity = new Secret(accountIdentity(row.bankScheme!, number.reveal(), row.bankCode));
              fps.push(bankAccountFingerprint(raw, row.bankScheme!, identity));
            } else {
              fps.push(fingerprint(raw, (await openField(keyring, 'PaymentMethod', 'cardNumber', row))!));
            }
          }
          // One statement per batch. Distinct cards give distinct fingerprints, so the dedupe index holds.
          await setTestFingerprints(
            tx,
            merchantId,
            rows.map((r) => r.id),
            fps,
          );
          count += rows.length;
          after = rows[rows.length - 1]!.id;
        }
        await appendAudit(tx, operatorActor(merchantId, 'TEST'), {
          action: 'data_key.create',
          entityType: 'data_key',
          entityId: id,
          outcome: 'success',
          detail: { purpose: 'FINGERPRINT', mode: 'TEST', refingerprinted: count },
        });
        return count;
      } finally {
        raw.fill(0);
      }
    },
    // Proportional to the merchant's test-mode cards, not to one request.
    { timeout: 10 * 60_000 },
  );
  keyring.invalidate(merchantId);
  return result;
}
