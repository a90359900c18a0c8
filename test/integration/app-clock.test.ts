// The clock is the app's: a test builds an app with a fixed time instead of depending on today's date.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../../src/app/app.js';
import { openField } from '../../src/db/encryption.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import type { Principal } from '../../src/domain/shared/principal.js';
import { createTestApp } from '../helpers/db.js';
import { principalOf } from '../helpers/vault.js';

describe("the app's clock", () => {
  const apps: App[] = [];
  const appAt = async (iso: string) => {
    const app = await createTestApp(inject('databaseUrl'), { clock: () => new Date(iso) });
    apps.push(app);
    return app;
  };
  let principal: Principal;
  beforeAll(async () => {
    const m = await createMerchant(await appAt('2026-01-01T00:00:00Z'), { name: 'clock' });
    principal = principalOf(m, { keyId: 'key_clock', requestId: 'req-clock' });
  });
  afterAll(async () => {
    for (const app of apps) await app.stop();
  });

  it('decides expiry: a 02/27 card is valid in February 2027 and expired in March 2027', async () => {
    const card = { number: '4242424242424242', expMonth: 2, expYear: 27 };
    const february = await appAt('2027-02-28T23:59:59Z');
    const stored = await tokenizeCard(february, principal, { card });
    // Retention: the expiry month plus the retention period, whatever today is.
    expect(stored.paymentMethod.retainUntil.toISOString()).toBe('2028-04-01T00:00:00.000Z');
    const march = await appAt('2027-03-01T00:00:00Z');
    await expect(tokenizeCard(march, principal, { card })).rejects.toMatchObject({
      code: 'CARD_EXPIRED',
      fields: [{ path: ['input', 'card', 'expMonth'] }],
    });
  });

  it("dates what the sandbox token service issues by the app's clock", async () => {
    const app = await appAt('2030-06-15T12:00:00Z');
    const saved = await tokenizeCard(app, principal, {
      card: { number: '5555555555554444', expMonth: 12, expYear: 2031 },
      networkTokenization: { enable: true },
    });
    const token = await app.db.prisma.networkToken.findFirstOrThrow({
      where: { merchantId: principal.merchantId, paymentMethodId: saved.paymentMethod.id },
      select: { merchantId: true, id: true, expiry: true },
    });
    // Three years from the app's now (June 2030), not from the machine's.
    expect(await openField(app.db.keyring, 'NetworkToken', 'expiry', token)).toEqual({ month: 6, year: 2033 });
  });
});
