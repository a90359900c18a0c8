import type { App } from '../../app/app.js';
import type { Prisma as Client, Tx } from '../../db/client.js';
import type { ApiKeyKind, Mode } from '../../generated/prisma/client.js';
import type { ApiKeyRow } from './apiKeyCache.js';

// The merchant store: the statements on `merchants`, `profiles` and `api_keys`, once. The allow-lists' two tables have
// their own generic store (allowLists.ts); data keys are read and written by the keyring (src/crypto/keyring.ts)
// and its rotations (keyRotation.ts, fingerprintKeys.ts).

/**
 * An api key by its hash ($1), with its merchant's default profile: the first statement of every request, a named prepared statement on the pool
 * (docs/adr/0002), replayed by the benchmark's L3.
 */
export const AUTHENTICATE = {
  name: 'vault_authenticate',
  text: `SELECT k.merchant_id AS "merchantId", k.id, k.kind::text AS kind, k.mode::text AS mode, k.allow_reveal AS "allowReveal",
    k.profile_id AS "profileId",
    (SELECT p.id FROM profiles p WHERE p.merchant_id = k.merchant_id AND p.is_default ORDER BY p.id LIMIT 1) AS "defaultProfileId"
  FROM api_keys k WHERE k.key_hash = $1 AND k.revoked_at IS NULL LIMIT 1`,
};

export async function findActiveKeyByHash(app: App, keyHash: string): Promise<ApiKeyRow | undefined> {
  const [row] = await app.db.sql<ApiKeyRow>(AUTHENTICATE.text, [keyHash], AUTHENTICATE.name);
  return row;
}

export async function insertMerchant(tx: Tx, id: string, name: string): Promise<void> {
  await tx.merchant.create({ data: { id, name } });
}

export async function merchantExists(client: Tx | Client, id: string): Promise<boolean> {
  return (await client.merchant.findUnique({ where: { id }, select: { id: true } })) !== null;
}

export function countMerchantRows(app: App): Promise<number> {
  return app.db.prisma.merchant.count();
}

export async function insertApiKey(
  tx: Tx,
  row: {
    merchantId: string;
    id: string;
    kind: ApiKeyKind;
    mode: Mode;
    keyHash: string;
    prefix: string;
    allowReveal: boolean;
    profileId: string | null;
  },
): Promise<void> {
  await tx.apiKey.create({ data: row });
}

/** Marks an active key revoked; its merchant and mode, or undefined when there was no active key by that id. */
export async function revokeKeyRow(tx: Tx, keyId: string, now: Date): Promise<{ merchantId: string; mode: Mode } | undefined> {
  const [revoked] = await tx.apiKey.updateManyAndReturn({
    where: { id: keyId, revokedAt: null },
    data: { revokedAt: now },
    select: { merchantId: true, mode: true },
  });
  return revoked;
}

export async function apiKeyExists(tx: Tx, keyId: string): Promise<boolean> {
  return (await tx.apiKey.findFirst({ where: { id: keyId }, select: { id: true } })) !== null;
}

/** A merchant's keys, oldest first (never the keys themselves: they are stored as hashes only). */
export function listApiKeyRows(app: App, merchantId: string) {
  return app.db.prisma.apiKey.findMany({
    where: { merchantId },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: { id: true, kind: true, mode: true, prefix: true, allowReveal: true, profileId: true, createdAt: true, revokedAt: true },
  });
}

/** Every merchant's id, in order. */
export async function listMerchantIds(app: App): Promise<string[]> {
  return (await app.db.prisma.merchant.findMany({ select: { id: true }, orderBy: { id: 'asc' } })).map((m) => m.id);
}

/** Locks the merchant's row until the transaction ends (operations on a merchant's keys take turns). */
export async function lockMerchant(tx: Tx, merchantId: string): Promise<void> {
  await tx.$queryRaw`SELECT id FROM merchants WHERE id = ${merchantId} FOR UPDATE`;
}

// Profiles are never deleted, moved to another merchant or made (non-)default after creation, so what a
// lookup found stays true.

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
