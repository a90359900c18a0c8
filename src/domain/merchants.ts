import { db } from '../db/client.js';
import { newId } from '../ids.js';
import { NotFound, ValidationFailed } from '../errors.js';
import { createApiKey } from './apiKeys.js';
import { appendAudit, operatorActor } from './audit.js';

export interface CreatedMerchant {
  merchantId: string;
  secretKey: string;
  publishableKey: string;
}

/** A merchant, its data keys, and a test-mode secret and publishable key, in one transaction. */
export async function createMerchant(input: { name: string }): Promise<CreatedMerchant> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) {
    throw ValidationFailed.single(['name'], 'INVALID_INPUT', 'Merchant name must have 1 to 200 characters');
  }
  const { prisma, keyring } = db();
  return prisma.$transaction(async (tx) => {
    const merchantId = newId('mer');
    await tx.merchant.create({ data: { id: merchantId, name } });
    await keyring.createMerchantKeys(tx, merchantId);
    await appendAudit(tx, operatorActor(merchantId), { action: 'merchant.create', entityType: 'merchant', entityId: merchantId, outcome: 'success' });
    const secret = await createApiKey({ merchantId, kind: 'SECRET', mode: 'TEST' }, tx);
    const publishable = await createApiKey({ merchantId, kind: 'PUBLISHABLE', mode: 'TEST' }, tx);
    return { merchantId, secretKey: secret.key, publishableKey: publishable.key };
  });
}

export async function countMerchants(): Promise<number> {
  return db().prisma.merchant.count();
}

/** NotFound unless the merchant exists (operator commands name merchants by id). */
export async function requireMerchant(merchantId: string): Promise<void> {
  const found = await db().prisma.merchant.findUnique({ where: { id: merchantId }, select: { id: true } });
  if (!found) throw new NotFound('merchant', merchantId);
}
