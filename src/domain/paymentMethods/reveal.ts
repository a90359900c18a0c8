import type { App } from '../../app/app.js';
import { findSealedCard } from './store.js';
import type { Prisma, Tx } from '../../db/client.js';
import type { Secret } from '../../crypto/secret.js';
import { openField } from '../../db/encryption.js';
import { Forbidden, NotFound } from '../shared/errors.js';
import { isWellFormedId } from '../shared/ids.js';
import type { PaymentMethod } from '../../generated/prisma/client.js';
import { actorOf, appendAudit } from '../audit/audit.js';
import type { Principal } from '../shared/principal.js';

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

/** A stored card of the key's tenant, opened; null when there is no such payment method. */
export async function openStoredCard(
  app: App,
  principal: Principal,
  id: string,
  client: Tx | Prisma = app.db.prisma,
): Promise<RevealedCard | null> {
  const pm = await findSealedCard(client, principal, id);
  return pm ? openCard(app, pm) : null;
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
    const opened = await openStoredCard(app, principal, id, tx);
    await appendAudit(tx, actor, { ...event, outcome: opened ? 'success' : 'failed' });
    return opened;
  });
  if (!card) throw new NotFound('payment method', id);
  return card;
}
