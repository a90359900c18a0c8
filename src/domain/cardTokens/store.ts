import type { App } from '../../app/app.js';
import { encodeField, type Billing } from '../../db/encrypted-fields.js';
import type { Tx } from '../../db/client.js';
import type { CardInput } from '../shared/inputSchemas.js';
import { cardColumns } from '../paymentMethods/store.js';
import { owner, tenant, type Principal, type Tenant } from '../shared/principal.js';

// The card token store: every statement on `card_tokens`, once (through Prisma: the encryption extension
// seals the card, CVC and billing on write). The rules, single use above all, are in cardTokens.ts.

export function insertCardToken(
  tx: Tx,
  principal: Principal,
  row: { id: string; card: CardInput; billing?: Billing | null; expiresAt: Date },
) {
  return tx.cardToken.create({
    data: {
      ...owner(principal),
      id: row.id,
      ...cardColumns(row.card),
      cvc: encodeField('CardToken', 'cvc', row.card.cvc) ?? null,
      billing: encodeField('CardToken', 'billing', row.billing) ?? null,
      expiresAt: row.expiresAt,
    },
  });
}

export function findCardTokenRow(app: App, principal: Tenant, id: string) {
  return app.db.prisma.cardToken.findFirst({ where: { ...tenant(principal), id } });
}

/**
 * Marks an unused, unexpired token used and destroys its number and CVC, in one conditional update: of any
 * number of concurrent callers, across processes, exactly one gets true.
 */
export async function spendCardTokenRow(app: App, principal: Tenant, id: string, now: Date): Promise<boolean> {
  const { count } = await app.db.prisma.cardToken.updateMany({
    where: { ...tenant(principal), id, usedAt: null, expiresAt: { gt: now } },
    data: { usedAt: now, cardNumber: null, cvc: null },
  });
  return count === 1;
}

/** Destroys the number and CVC of every used or expired token; how many lost them. */
export async function destroySpentSecrets(app: App, now: Date): Promise<number> {
  const { count } = await app.db.prisma.cardToken.updateMany({
    where: {
      OR: [{ usedAt: { not: null } }, { expiresAt: { lte: now } }],
      AND: [{ OR: [{ cardNumber: { not: null } }, { cvc: { not: null } }] }],
    },
    data: { cardNumber: null, cvc: null },
  });
  return count;
}

/** Deletes tokens that expired before `before`; how many went. */
export async function deleteTokensExpiredBefore(app: App, before: Date): Promise<number> {
  return (await app.db.prisma.cardToken.deleteMany({ where: { expiresAt: { lte: before } } })).count;
}
