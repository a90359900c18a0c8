import type { App } from '../../app/app.js';
import type { Tx } from '../../db/client.js';
import { appendAudit, operatorActor } from '../audit/audit.js';
import { NotFound, ValidationFailed } from '../shared/errors.js';
import { isWellFormedId, newId } from '../shared/ids.js';
import { insertProfile, listProfileRows, merchantExists, profileOfMerchant, requestProfileExists } from './store.js';

// Profiles: a merchant's business units. Every record a request creates belongs to one (the request's
// x-profile-id, its key's profile, or the merchant's default); see src/domain/shared/principal.ts for how
// requests are scoped to one.

/** The name of the profile every merchant is created with. */
const DEFAULT_PROFILE_NAME = 'default';

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > 200) {
    throw ValidationFailed.single(['name'], 'INVALID_INPUT', 'Profile name must have 1 to 200 characters');
  }
  return trimmed;
}

/** A new profile of the merchant (its default one when `isDefault`: once, with the merchant), audited. */
export async function createProfile(app: App, input: { merchantId: string; name: string }, tx?: Tx, isDefault = false): Promise<string> {
  if (!tx) return app.db.prisma.$transaction((t) => createProfile(app, input, t, isDefault));
  const name = checkName(input.name);
  if (!(await merchantExists(tx, input.merchantId))) throw new NotFound('merchant', input.merchantId);
  const id = newId('pro');
  await insertProfile(tx, { merchantId: input.merchantId, id, name, isDefault });
  // The default profile is part of the merchant's creation (its merchant.create event).
  if (!isDefault) {
    await appendAudit(tx, operatorActor(input.merchantId), {
      action: 'profile.create',
      entityType: 'profile',
      entityId: id,
      outcome: 'success',
    });
  }
  return id;
}

/** The default profile of a new merchant, in the merchant's transaction. */
export function createDefaultProfile(app: App, merchantId: string, tx: Tx): Promise<string> {
  return createProfile(app, { merchantId, name: DEFAULT_PROFILE_NAME }, tx, true);
}

export async function listProfiles(app: App, merchantId: string) {
  if (!(await merchantExists(app.db.prisma, merchantId))) throw new NotFound('merchant', merchantId);
  const rows = await listProfileRows(app.db.prisma, merchantId);
  return rows.map(({ id, ...rest }) => ({ profileId: id, ...rest }));
}

/** The merchant's default profile: where the operator's commands (import, the updater, webhooks) act. */
export async function defaultProfileOf(app: App, merchantId: string): Promise<string> {
  const [first] = await listProfiles(app, merchantId);
  if (!first?.isDefault) throw new NotFound('default profile for merchant', merchantId);
  return first.profileId;
}

/** NotFound unless the merchant has this profile (an operator naming a profile for a key). */
export async function requireProfile(client: Tx, merchantId: string, profileId: string): Promise<void> {
  if (!(await profileOfMerchant(client, merchantId, profileId))) throw new NotFound('profile', profileId);
}

/**
 * Whether a request's x-profile-id names a profile of the key's merchant: one primary-key lookup (a prepared
 * statement on the pool); a value not shaped like a profile id (a card number pasted by mistake) is never
 * looked up.
 */
export async function isProfileOf(app: App, merchantId: string, profileId: string): Promise<boolean> {
  return isWellFormedId('pro', profileId) && (await requestProfileExists(app, merchantId, profileId));
}
