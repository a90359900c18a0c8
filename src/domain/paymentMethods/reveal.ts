import type { App } from '../../app/app.js';
import { findSealedCard } from './store.js';
import type { Prisma, Tx } from '../../db/client.js';
import type { Secret } from '../../crypto/secret.js';
import { openField } from '../../db/encryption.js';
import { Forbidden, NotFound, ValidationFailed } from '../shared/errors.js';
import { isWellFormedId } from '../shared/ids.js';
import type { PaymentMethod } from '../../generated/prisma/client.js';
import { actorOf, appendAudit } from '../audit/audit.js';
import type { Principal } from '../shared/principal.js';
import type { PaymentSource } from '../../integrations/connectors/types.js';

export interface RevealedCard {
  /** Revealed only by the RevealedCard type's resolver, the connector's wire call and forwarding. */
  number: Secret<string>;
  expMonth: number;
  expYear: number;
  holderName: string | null;
}

type SealedCardRow = Pick<PaymentMethod, 'merchantId' | 'id' | 'cardNumber' | 'cardExpiry' | 'holderName'>;

/**
 * The one place a stored card number is opened: for a payment's connector, revealCard and forwardRequest
 * (the last two audit it).
 */
export async function openCard(app: App, pm: SealedCardRow): Promise<RevealedCard> {
  const { keyring } = app.db;
  const [number, expiry, holderName] = await Promise.all([
    openField(keyring, 'PaymentMethod', 'cardNumber', pm),
    openField(keyring, 'PaymentMethod', 'cardExpiry', pm),
    openField(keyring, 'PaymentMethod', 'holderName', pm),
  ]);
  if (!number || !expiry) throw new Error(`payment method ${pm.id} has no card data`);
  const { month, year } = expiry;
  return { number, expMonth: month, expYear: year, holderName: holderName ?? null };
}

/**
 * What a card-only operation (reveal, forwarding card data) answers for a bank account: a validation error on
 * the id, so the caller learns it named the wrong kind of payment method, not that it is absent.
 */
function notACard(path: string[], operation: string): ValidationFailed {
  return ValidationFailed.single(path, 'INVALID_INPUT', `This payment method is a bank account: only a card can be ${operation}`);
}

/**
 * A stored card of the key's tenant, opened; null when there is no such payment method, `notACard` thrown
 * (at `path`) when it is a bank account.
 */
export async function openStoredCard(
  app: App,
  principal: Principal,
  id: string,
  path: string[],
  operation: string,
  client: Tx | Prisma = app.db.prisma,
): Promise<RevealedCard | null> {
  const pm = await findSealedCard(client, principal, id);
  if (pm?.type === 'BANK_ACCOUNT') throw notACard(path, operation);
  return pm ? openCard(app, pm) : null;
}

type SealedBankRow = Pick<
  PaymentMethod,
  'merchantId' | 'id' | 'accountNumber' | 'holderName' | 'bankScheme' | 'bankCode' | 'bankCountry' | 'bic' | 'accountType'
>;

/** The one place a stored bank account number (or IBAN) is opened: for a payment's connector, never returned. */
export async function openBankAccount(app: App, pm: SealedBankRow): Promise<Extract<PaymentSource, { type: 'bank_account' }>> {
  const { keyring } = app.db;
  const [number, holderName] = await Promise.all([
    openField(keyring, 'PaymentMethod', 'accountNumber', pm),
    openField(keyring, 'PaymentMethod', 'holderName', pm),
  ]);
  if (!number || !pm.bankScheme || !pm.bankCountry) throw new Error(`payment method ${pm.id} has no bank account data`);
  return {
    type: 'bank_account',
    bankAccount: {
      scheme: pm.bankScheme,
      number,
      bankCode: pm.bankCode,
      country: pm.bankCountry,
      bic: pm.bic,
      holderName: holderName ?? null,
      accountType: pm.accountType,
    },
  };
}

/**
 * The full card, for secret keys created with --allow-reveal. Every attempt is audited: refused ones as
 * `denied`, unknown ids as `failed`, and a reveal in the same transaction that reads the card, so no card
 * leaves without its event.
 */
export async function revealCard(app: App, principal: Principal, id: string): Promise<RevealedCard> {
  // A malformed id (a card number pasted in, say) is not written to the audit trail: it finds nothing.
  if (!isWellFormedId('pm', id)) throw new NotFound('payment method', id);
  const { prisma } = app.db;
  const actor = actorOf(principal);
  const event = { action: 'payment_method.reveal', entityType: 'payment_method', entityId: id } as const;
  if (!principal.allowReveal || principal.kind !== 'SECRET') {
    await appendAudit(prisma, actor, { ...event, outcome: 'denied' });
    throw new Forbidden('This key may not reveal cards: create a secret key with --allow-reveal');
  }
  const card = await prisma.$transaction(async (tx) => {
    const pm = await findSealedCard(tx, principal, id);
    // A bank account is never revealed: the attempt is audited as failed, like an unknown id.
    const opened = pm?.type === 'CARD' ? await openCard(app, pm) : null;
    await appendAudit(tx, actor, { ...event, outcome: opened ? 'success' : 'failed' });
    return pm && !opened ? 'bank account' : opened;
  });
  if (card === 'bank account') throw notACard(['id'], 'revealed');
  if (!card) throw new NotFound('payment method', id);
  return card;
}
