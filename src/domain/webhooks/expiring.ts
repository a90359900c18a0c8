import type { App } from '../../app/app.js';
import { expiringCards, findPaymentMethodRow, inTransaction } from '../paymentMethods/store.js';
import { emitPaymentMethod } from './webhooks.js';

/**
 * payment_method.expiring, once per card and expiry, 30 days before the expiry month ends (the sweep runs
 * this). The notice and the event commit together; a concurrent sweep's notice wins and this one sends none.
 */
export async function notifyExpiring(app: App, now = app.clock(), batchSize = 500): Promise<number> {
  let sent = 0;
  for (;;) {
    const due = await expiringCards(app, now, batchSize);
    for (const card of due) {
      const emitted = await app.db.prisma.$transaction(async (tx) => {
        const inserted = await tx.$executeRaw`INSERT INTO webhook_expiring_notices (merchant_id, payment_method_id, expiry_end)
          VALUES (${card.merchantId}, ${card.id}, ${card.expiryEnd.toISOString()}::timestamptz) ON CONFLICT DO NOTHING`;
        if (inserted === 0) return false;
        const pm = await findPaymentMethodRow(inTransaction(tx), card, card.id);
        if (!pm) return false;
        await emitPaymentMethod(app, tx, card, 'payment_method.expiring', pm, 'card_expiring');
        return true;
      });
      if (emitted) sent++;
    }
    if (due.length < batchSize) return sent;
  }
}
