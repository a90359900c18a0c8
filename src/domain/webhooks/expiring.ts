import type { App } from '../../app/app.js';
import type { PaymentMethod } from '../../generated/prisma/client.js';
import { emitPaymentMethod } from './webhooks.js';

/**
 * Cards whose expiry month ends within 30 days, of merchants subscribed to payment_method.expiring, not
 * notified yet for this expiry. The expiry is sealed, but the retention rule gives its month's end in the
 * clear: retain_until is the 1st of (expiry month + 14 months) plus any extension, so the month ends
 * 13 months (plus the extension) before it. The range on retain_until (extensions are at most 24 months)
 * keeps the scan on its index. $1 now, $2 batch size.
 */
const DUE = `SELECT pm.merchant_id AS "merchantId", pm.id, pm.mode, d.expiry_end AS "expiryEnd"
  FROM payment_methods pm,
    LATERAL (SELECT (pm.retain_until AT TIME ZONE 'UTC' - make_interval(months => 13 + pm.retention_extension_months)) AT TIME ZONE 'UTC' AS expiry_end) d
  WHERE pm.retain_until > $1::timestamptz + interval '13 months'
    AND pm.retain_until <= $1::timestamptz + interval '30 days' + interval '37 months'
    AND d.expiry_end > $1::timestamptz AND d.expiry_end <= $1::timestamptz + interval '30 days'
    AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.merchant_id = pm.merchant_id AND e.mode = pm.mode
                AND e.events && ARRAY['payment_method.expiring', '*'])
    AND NOT EXISTS (SELECT 1 FROM webhook_expiring_notices n
                    WHERE n.merchant_id = pm.merchant_id AND n.payment_method_id = pm.id AND n.expiry_end = d.expiry_end)
  LIMIT $2`;

/**
 * payment_method.expiring, once per card and expiry, 30 days before the expiry month ends (the sweep runs
 * this). The notice and the event commit together; a concurrent sweep's notice wins and this one sends none.
 */
export async function notifyExpiring(app: App, now = app.clock(), batchSize = 500): Promise<number> {
  let sent = 0;
  for (;;) {
    const due = (await app.db.sql(DUE, [now, batchSize])) as {
      merchantId: string;
      id: string;
      mode: PaymentMethod['mode'];
      expiryEnd: Date;
    }[];
    for (const card of due) {
      const emitted = await app.db.prisma.$transaction(async (tx) => {
        const inserted = await tx.$executeRaw`INSERT INTO webhook_expiring_notices (merchant_id, payment_method_id, expiry_end)
          VALUES (${card.merchantId}, ${card.id}, ${card.expiryEnd.toISOString()}::timestamptz) ON CONFLICT DO NOTHING`;
        if (inserted === 0) return false;
        const pm = await tx.paymentMethod.findFirst({ where: { merchantId: card.merchantId, mode: card.mode, id: card.id } });
        if (!pm) return false;
        await emitPaymentMethod(app, tx, card, 'payment_method.expiring', pm, 'card_expiring');
        return true;
      });
      if (emitted) sent++;
    }
    if (due.length < batchSize) return sent;
  }
}
