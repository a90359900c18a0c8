import type { App } from '../../app/app.js';
import { countMerchantRows, insertMerchant, merchantExists } from './store.js';
import { newId } from '../shared/ids.js';
import { NotFound, ValidationFailed } from '../shared/errors.js';
import { createApiKey } from './apiKeys.js';
import { appendAudit, operatorActor } from '../audit/audit.js';
import { createDefaultProfile } from './profiles.js';

export interface CreatedMerchant {
  merchantId: string;
  secretKey: string;
  publishableKey: string;
  /** The profile records go in when a request names none. */
  defaultProfileId: string;
}

/** A merchant, its data keys, its default profile, and a test-mode secret and publishable key, in one transaction. */
export async function createMerchant(app: App, input: { name: string }): Promise<CreatedMerchant> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) {
    throw ValidationFailed.single(['name'], 'INVALID_INPUT', 'Merchant name must have 1 to 200 characters');
  }
  const { prisma, keyring } = app.db;
  return prisma.$transaction(async (tx) => {
    const merchantId = newId('mer');
    await insertMerchant(tx, merchantId, name);
    await keyring.createMerchantKeys(tx, merchantId);
    await appendAudit(tx, operatorActor(merchantId), {
      action: 'merchant.create',
      entityType: 'merchant',
      entityId: merchantId,
      outcome: 'success',
    });
    const defaultProfileId = await createDefaultProfile(app, merchantId, tx);
    const secret = await createApiKey(app, { merchantId, kind: 'SECRET', mode: 'TEST' }, tx);
    const publishable = await createApiKey(app, { merchantId, kind: 'PUBLISHABLE', mode: 'TEST' }, tx);
    return { merchantId, secretKey: secret.key, publishableKey: publishable.key, defaultProfileId };
  });
}

export async function countMerchants(app: App): Promise<number> {
  return countMerchantRows(app);
}

/** NotFound unless the merchant exists (operator commands name merchants by id). */
export async function requireMerchant(app: App, merchantId: string): Promise<void> {
  if (!(await merchantExists(app.db.prisma, merchantId))) throw new NotFound('merchant', merchantId);
}
