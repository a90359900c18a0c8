import type { App } from '../../app/app.js';
import type { Prisma as Client, Tx } from '../../db/client.js';

// The profile store: every statement on `profiles`, once. Profiles are never deleted, renamed into another
// merchant or made (non-)default after creation, so what a lookup found stays true.

export async function insertProfile(tx: Tx, row: { merchantId: string; id: string; name: string; isDefault: boolean }): Promise<void> {
  await tx.profile.create({ data: row });
}

/** A merchant's profiles, the default first, then oldest first. */
export function listProfileRows(client: Tx | Client, merchantId: string) {
  return client.profile.findMany({
    where: { merchantId },
    orderBy: [{ isDefault: 'desc' }, { createdAt: 'asc' }, { id: 'asc' }],
    select: { id: true, name: true, isDefault: true, createdAt: true },
  });
}

/** Whether the merchant has this profile (the primary key: one indexed lookup). */
export async function profileOfMerchant(client: Tx | Client, merchantId: string, id: string): Promise<boolean> {
  return (await client.profile.findUnique({ where: { merchantId_id: { merchantId, id } }, select: { id: true } })) !== null;
}

/**
 * Whether the merchant has this profile, for a request's x-profile-id: $1 merchant, $2 profile. A named
 * prepared statement on the pool (the primary key), like the key lookup before it.
 */
const PROFILE_OF_MERCHANT = {
  name: 'vault_profile_of_merchant',
  text: 'SELECT 1 AS found FROM profiles WHERE merchant_id = $1 AND id = $2',
};

export async function requestProfileExists(app: App, merchantId: string, id: string): Promise<boolean> {
  return (await app.db.sql(PROFILE_OF_MERCHANT.text, [merchantId, id], PROFILE_OF_MERCHANT.name)).length === 1;
}
