import { db, type Prisma, type Tx } from '../db/client.js';
import { openField } from '../db/encryption.js';
import { Forbidden, NotFound } from '../errors.js';
import { actorOf, appendAudit } from './audit.js';
import { tenant, type Principal } from './principal.js';

export interface RevealedCard {
  number: string;
  expMonth: number;
  expYear: number;
  holderName: string | null;
}

/** A stored card, opened: only for revealCard and forwardRequest, which audit it. */
export async function openStoredCard(principal: Principal, id: string, client: Tx | Prisma = db().prisma): Promise<RevealedCard | null> {
  const pm = await client.paymentMethod.findFirst({
    where: { ...tenant(principal), id },
    select: { merchantId: true, id: true, cardNumber: true, cardExpiry: true, holderName: true },
  });
  if (!pm) return null;
  const { keyring } = db();
  const [number, expiry, holderName] = await Promise.all(
    (['cardNumber', 'cardExpiry', 'holderName'] as const).map((f) => openField(keyring, 'PaymentMethod', f, pm)),
  );
  if (!number || !expiry) throw new Error(`payment method ${id} has no card data`);
  const { month, year } = JSON.parse(expiry) as { month: number; year: number };
  return { number, expMonth: month, expYear: year, holderName: holderName ?? null };
}

/**
 * The full card, for secret keys created with --allow-reveal. Every attempt is audited: refused ones as
 * `denied`, unknown ids as `failed`, and a reveal in the same transaction that reads the card, so no card
 * leaves without its event.
 */
export async function revealCard(principal: Principal, id: string): Promise<RevealedCard> {
  const { prisma } = db();
  const actor = actorOf(principal);
  const event = { action: 'payment_method.reveal', entityType: 'payment_method', entityId: id } as const;
  if (!principal.allowReveal || principal.kind !== 'SECRET') {
    await appendAudit(prisma, actor, { ...event, outcome: 'denied' });
    throw new Forbidden('This key may not reveal cards: create a secret key with --allow-reveal');
  }
  const card = await prisma.$transaction(async (tx) => {
    const opened = await openStoredCard(principal, id, tx);
    await appendAudit(tx, actor, { ...event, outcome: opened ? 'success' : 'failed' });
    return opened;
  });
  if (!card) throw new NotFound('payment method', id);
  return card;
}
