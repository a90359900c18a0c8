import type { App } from '../../app/app.js';
import { apiKeyExists, findActiveKeyByHash, insertApiKey, listApiKeyRows, merchantExists, revokeKeyRow } from './store.js';
import { createHash, randomBytes } from 'node:crypto';
import type { Tx } from '../../db/client.js';
import { base62, newId } from '../shared/ids.js';
import type { ApiKeyKind, Mode } from '../../generated/prisma/client.js';
import { NotFound } from '../shared/errors.js';
import { appendAudit, operatorActor } from '../audit/audit.js';
import type { Principal } from '../shared/principal.js';
import { requireProfile } from './profiles.js';

const KEY_FORMAT = /^(sk|pk)_(test|live)_[0-9A-Za-z]{43}$/;

// Keys carry 256 random bits, so an unsalted SHA-256 is enough to make a stolen table useless and keeps the
// per-request lookup a single indexed equality match.
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface CreatedKey {
  keyId: string;
  key: string;
}

export interface CreateKeyInput {
  merchantId: string;
  kind: ApiKeyKind;
  mode: Mode;
  allowReveal?: boolean;
  /** Restricts the key to this profile of the merchant (absent: every profile). */
  profileId?: string;
}

/** Creates a key and audits it (`api_key.create`), in the caller's transaction or its own. */
export async function createApiKey(app: App, input: CreateKeyInput, tx?: Tx): Promise<CreatedKey> {
  if (!tx) return app.db.prisma.$transaction((t) => createApiKey(app, input, t));
  if (!(await merchantExists(tx, input.merchantId))) throw new NotFound('merchant', input.merchantId);
  if (input.profileId !== undefined) await requireProfile(tx, input.merchantId, input.profileId);
  const key = `${input.kind === 'SECRET' ? 'sk' : 'pk'}_${input.mode.toLowerCase()}_${base62(randomBytes(32), 43)}`;
  const keyId = newId('key');
  await insertApiKey(tx, {
    merchantId: input.merchantId,
    id: keyId,
    kind: input.kind,
    mode: input.mode,
    keyHash: hashKey(key),
    prefix: key.slice(0, 12),
    allowReveal: input.kind === 'SECRET' && (input.allowReveal ?? false),
    profileId: input.profileId ?? null,
  });
  await appendAudit(tx, operatorActor(input.merchantId, input.mode), {
    action: 'api_key.create',
    entityType: 'api_key',
    entityId: keyId,
    outcome: 'success',
    detail: {
      kind: input.kind,
      allowReveal: input.kind === 'SECRET' && (input.allowReveal ?? false),
      ...(input.profileId !== undefined && { profileId: input.profileId }),
    },
  });
  return { keyId, key };
}

/** Revokes a key (idempotent) and audits it (`api_key.revoke`). */
export async function revokeApiKey(app: App, keyId: string, now = app.clock()): Promise<void> {
  await app.db.prisma.$transaction(async (tx) => {
    const revoked = await revokeKeyRow(tx, keyId, now);
    if (revoked) {
      await appendAudit(tx, operatorActor(revoked.merchantId, revoked.mode), {
        action: 'api_key.revoke',
        entityType: 'api_key',
        entityId: keyId,
        outcome: 'success',
      });
      return;
    }
    if (!(await apiKeyExists(tx, keyId))) throw new NotFound('api key', keyId);
  });
}

export async function listApiKeys(app: App, merchantId: string) {
  if (!(await merchantExists(app.db.prisma, merchantId))) throw new NotFound('merchant', merchantId);
  const rows = await listApiKeyRows(app, merchantId);
  return rows.map(({ id, ...rest }) => ({ keyId: id, ...rest }));
}

/**
 * The principal for a presented key, or null for a malformed, unknown or revoked one. It acts in the key's
 * profile if the key is restricted to one (scoped to it), else in the merchant's default profile (unscoped);
 * the request's x-profile-id is checked against it afterwards (src/http/context.ts).
 */
export async function authenticate(app: App, key: string): Promise<Principal | null> {
  const match = KEY_FORMAT.exec(key);
  if (!match) return null;
  const keyHash = hashKey(key);
  // Every request runs this: one indexed lookup on the plain pool, without the ORM's per-query work; on the
  // server usually not even that, from the cache that revocations evict (apiKeyCache.ts).
  const load = () => findActiveKeyByHash(app, keyHash);
  const cache = app.apiKeyCache;
  const row = cache ? await cache.lookup(keyHash, load) : await load();
  // The prefix is decoration; the stored kind and mode are the truth, and must agree with it.
  if (!row || (match[1] === 'sk') !== (row.kind === 'SECRET') || match[2] !== row.mode.toLowerCase()) return null;
  return {
    merchantId: row.merchantId,
    keyId: row.id,
    kind: row.kind,
    mode: row.mode,
    allowReveal: row.allowReveal,
    profileId: row.profileId ?? row.defaultProfileId,
    ...(row.profileId !== null && { profileScope: row.profileId }),
  };
}
