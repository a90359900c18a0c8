import type { App } from '../../app/app.js';
import { openField } from '../../db/encryption.js';
import type { Billing } from '../../db/encrypted-fields.js';
import { newId } from '../shared/ids.js';
import { NotFound, TokenAlreadyUsed, TokenExpired } from '../shared/errors.js';
import type { CardToken } from '../../generated/prisma/client.js';
import type { CardInput } from '../shared/inputSchemas.js';
import { createCardTokenInputSchema } from './inputs.js';
import { parseInput } from '../shared/inputs.js';
import { deleteTokensExpiredBefore, destroySpentSecrets, findCardTokenRow, insertCardToken, spendCardTokenRow } from './store.js';
import { actorOf, audited } from '../audit/audit.js';
import type { Principal } from '../shared/principal.js';

const CARD_TOKEN_TTL_MS = 30 * 60 * 1000;
/** Spent and expired tokens keep their masked fields this long (so late uses answer TOKEN_EXPIRED), then go. */
const CARD_TOKEN_KEEP_MS = 7 * 24 * 60 * 60 * 1000;

/** A card token's card, opened for the one operation that uses it. */
export type TokenCard = CardInput & { billing: Billing | null };

/** Creates a single-use `tok_` valid 30 minutes; the CVC is kept, encrypted, only until the token is used. */
export async function createCardToken(app: App, principal: Principal, input: unknown, now = app.clock()) {
  const v = parseInput(createCardTokenInputSchema, input, ['input'], now);
  const { card } = v;
  const id = newId('tok');
  return audited(
    app,
    actorOf(principal),
    (tx) => insertCardToken(tx, principal, { id, card, billing: v.billing, expiresAt: new Date(now.getTime() + CARD_TOKEN_TTL_MS) }),
    () => ({ action: 'card_token.create', entityType: 'card_token', entityId: id, outcome: 'success' }),
  );
}

export async function findCardToken(app: App, principal: Principal, id: string) {
  return findCardTokenRow(app, principal, id);
}

/**
 * A usable token's card, opened without spending it: the caller checks everything that could still refuse
 * the operation (enumeration limits, providers' refusals, rendered headers) and only then spends it with
 * `spendCardToken`, so a refused operation leaves the token usable ("a failed mutation changes nothing").
 */
export async function openCardToken(app: App, principal: Principal, id: string, now = app.clock()): Promise<TokenCard> {
  const { keyring } = app.db;
  const row = await findCardTokenRow(app, principal, id);
  if (!row) throw new NotFound('card token', id);
  if (row.usedAt) throw new TokenAlreadyUsed(id);
  if (row.expiresAt <= now || row.cardNumber === null) throw new TokenExpired(id);
  const [number, expiry, holderName, nickName, cvc, billing] = await Promise.all([
    openField(keyring, 'CardToken', 'cardNumber', row),
    openField(keyring, 'CardToken', 'cardExpiry', row),
    openField(keyring, 'CardToken', 'holderName', row),
    openField(keyring, 'CardToken', 'nickName', row),
    openField(keyring, 'CardToken', 'cvc', row),
    openField(keyring, 'CardToken', 'billing', row),
  ]);
  if (!number || !expiry) throw new Error(`card token ${id} has no card data`);
  const { month, year } = expiry;
  return {
    number,
    expMonth: month,
    expYear: year,
    cvc: cvc ?? undefined,
    holderName: holderName ?? undefined,
    nickName: nickName ?? undefined,
    issuer: row.issuer ?? undefined,
    issuingCountry: row.issuingCountry ?? undefined,
    cardType: row.cardType ?? undefined,
    brand: row.brand,
    bin: row.bin,
    last4: row.last4,
    billing,
  };
}

/**
 * Spends a token and destroys its number and CVC, in one conditional update: the single point of truth. Of
 * any number of concurrent uses, across processes, exactly one matches `used_at IS NULL`; the others answer
 * TOKEN_ALREADY_USED (or TOKEN_EXPIRED past its 30 minutes).
 */
export async function spendCardToken(app: App, principal: Principal, id: string, now = app.clock()): Promise<void> {
  if (!(await spendCardTokenRow(app, principal, id, now))) {
    const token = await findCardTokenRow(app, principal, id);
    if (!token) throw new NotFound('card token', id);
    throw token.usedAt ? new TokenAlreadyUsed(id) : new TokenExpired(id);
  }
}

/** Opens and spends a token at once: for an operation with nothing left to check. */
export async function consumeCardToken(app: App, principal: Principal, id: string, now = app.clock()): Promise<TokenCard> {
  const card = await openCardToken(app, principal, id, now);
  await spendCardToken(app, principal, id, now);
  return card;
}

/**
 * Destroys the number and CVC of every used or expired token, and deletes tokens expired for a week.
 * Returns how many tokens lost their secrets and how many were deleted.
 */
export async function sweepCardTokens(app: App, now = app.clock()): Promise<{ destroyed: number; deleted: number }> {
  const destroyed = await destroySpentSecrets(app, now);
  const deleted = await deleteTokensExpiredBefore(app, new Date(now.getTime() - CARD_TOKEN_KEEP_MS));
  return { destroyed, deleted };
}

export type CardTokenRow = CardToken;
