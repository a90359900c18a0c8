import { describe, expect, it } from 'vitest';
import { CreatePaymentDocument } from '../../packages/client/src/index.js';
import { newMerchant, success, useDatabase } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// A returnUrl with credentials (https://user:pass@host) would put them in the customer's browser (history,
// address bar, Referer) and in the vault's redirect: refused as a validation error on returnUrl, nothing stored.

const getDb = useDatabase();

describe('createPayment returnUrl', () => {
  it('refuses a returnUrl with credentials, naming the field, and stores nothing', async () => {
    const m = await newMerchant();
    for (const returnUrl of [
      'https://user:secret-pass@shop.example/back',
      'https://user@shop.example/back',
      'https://:secret-pass@shop.example/back',
    ]) {
      const r = await m.client.request(CreatePaymentDocument, {
        input: { amount: 1000, currency: 'EUR', returnUrl, card: { number: '4000002500003155', expMonth: 12, expYear: EXP_YEAR } },
      });
      const error = success(r.createPayment, 'ValidationError');
      expect(
        error.fields.map((f) => [f.path.join('.'), f.code]),
        returnUrl,
      ).toEqual([['input.returnUrl', 'INVALID_INPUT']]);
      expect(JSON.stringify(r)).not.toContain('secret-pass');
    }
    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId } })).toBe(0);

    const ok = await m.client.request(CreatePaymentDocument, {
      input: {
        amount: 1000,
        currency: 'EUR',
        returnUrl: 'https://shop.example/back?order=1',
        card: { number: '4000002500003155', expMonth: 12, expYear: EXP_YEAR },
      },
    });
    expect(success(ok.createPayment, 'CreatePaymentSuccess').payment.status).toBe('REQUIRES_ACTION');
  });
});
