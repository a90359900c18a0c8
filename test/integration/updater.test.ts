import { createProfile } from '../../src/domain/merchants/profiles.js';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/app.js';
import { luhnValid } from '../../src/card/number.js';
import { Secret } from '../../src/crypto/secret.js';
import { migrate } from '../../src/db/migrate.js';
import { createCustomer } from '../../src/domain/customers/customers.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { runAccountUpdater } from '../../src/domain/paymentMethods/accountUpdater.js';
import { findPaymentMethod, maskedCard, tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import { openStoredCard } from '../../src/domain/paymentMethods/reveal.js';
import type { Principal } from '../../src/domain/shared/principal.js';
import type { AccountUpdater } from '../../src/integrations/updaters/index.js';
import { PaymentMethodUpdaterStatusDocument } from '../../packages/client/src/index.js';
import { createTestApp, createTestDatabase, querySql, type TestDatabase } from '../helpers/db.js';
import { newMerchant, testApp, useDatabase, principalOf } from '../helpers/vault.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { dumpDatabase, leakLines, panLike, panLikeInDump } from '../helpers/scan.js';

// The account updater (`vault updater run`) with the sandbox: 0051 new expiry, 0069 new number, 0077 closed.

let database: TestDatabase;
let app: App;
// The shared server's database, for what the API shows.
useDatabase();

/** A Luhn-valid 16-digit number starting with `prefix` and ending with `last4`. */
function numberEnding(prefix: string, last4: string): string {
  for (;;) {
    let body = prefix;
    while (body.length < 11) body += String(Math.floor(Math.random() * 10));
    const hit = [...'0123456789'].map((d) => `${body}${d}${last4}`).find(luhnValid);
    if (hit) return hit;
  }
}

async function tokenize(p: Principal, number: string, customerId?: string) {
  const r = await tokenizeCard(app, p, {
    card: { number, expMonth: 6, expYear: EXP_YEAR, holderName: 'Ann' },
    ...(customerId && { customerId }),
  });
  return r.paymentMethod.id;
}

beforeAll(async () => {
  database = await createTestDatabase();
  await migrate(database.url);
  app = await createTestApp(database.url);
});
afterAll(async () => {
  await app?.stop();
  await database?.drop();
});

describe('account updater', { timeout: 120_000 }, () => {
  it('sandbox: 0051 new expiry, 0069 new number (same brand, new fingerprint), 0077 closed, others unchanged; once; another merchant untouched', async () => {
    const a = principalOf(await createMerchant(app, { name: 'A' }));
    const b = principalOf(await createMerchant(app, { name: 'B' }));
    const expiry = await tokenize(a, numberEnding('411111', '0051'));
    const number = numberEnding('555555', '0069');
    const renumbered = await tokenize(a, number);
    const closed = await tokenize(a, numberEnding('411111', '0077'));
    const other = await tokenize(a, numberEnding('411111', '1234'));
    const elsewhere = await tokenize(b, numberEnding('411111', '0051'));
    const before = (await findPaymentMethod(app, a, renumbered))!;

    const r = await runAccountUpdater(app, { merchantId: a.merchantId });
    expect(r).toEqual({ checked: 4, updated: 2, merged: 0, closed: 1, unchanged: 1, failed: 0 });

    const pm = async (p: Principal, id: string) => (await findPaymentMethod(app, p, id))!;
    const e = await pm(a, expiry);
    expect(e.updaterStatus).toBe('UPDATED');
    expect(await maskedCard(app, e)).toMatchObject({ expMonth: 6, expYear: EXP_YEAR + 3, last4: '0051' });
    const n = await pm(a, renumbered);
    expect(n.updaterStatus).toBe('UPDATED');
    expect(n.brand).toBe('MASTERCARD');
    expect(n.bin).toBe(before.bin);
    expect(n.last4).not.toBe('0069');
    expect(n.fingerprint).not.toBe(before.fingerprint);
    const opened = (await openStoredCard(app, a, renumbered, ['id'], 'test'))!;
    expect(luhnValid(opened.number.reveal())).toBe(true);
    expect(opened.number.reveal()).toHaveLength(16);
    expect(opened.number.reveal().slice(-4)).toBe(n.last4);
    // The fingerprint is the new number's: tokenizing it again finds this payment method.
    const again = await tokenizeCard(app, a, { card: { number: opened.number.reveal(), expMonth: 6, expYear: EXP_YEAR } });
    expect(again).toMatchObject({ duplicate: true, paymentMethod: { id: renumbered } });
    expect((await pm(a, closed)).updaterStatus).toBe('CLOSED');
    const o = await pm(a, other);
    expect(o.updaterStatus).toBeNull();
    expect(o.updaterCheckedAt).not.toBeNull();
    // Another merchant's card: not asked, unchanged.
    const x = await pm(b, elsewhere);
    expect(x.updaterCheckedAt).toBeNull();
    expect(await maskedCard(app, x)).toMatchObject({ expYear: EXP_YEAR });

    // Audited (never a number), once per change.
    const audit = await querySql<{ entity_id: string; detail: { result: string } }>(
      database.url,
      "SELECT entity_id, detail FROM audit_events WHERE merchant_id = $1 AND action = 'payment_method.account_updater' ORDER BY entity_id",
      [a.merchantId],
    );
    expect(audit.map((x) => [x.entity_id, x.detail.result]).sort()).toEqual(
      [
        [expiry, 'new_expiry'],
        [renumbered, 'new_number'],
        [closed, 'closed'],
      ].sort(),
    );

    // The sandbox answers once per card: a later run asks about nothing and changes nothing.
    expect(await runAccountUpdater(app, { merchantId: a.merchantId })).toMatchObject({ checked: 0, updated: 0 });
    expect(await maskedCard(app, await pm(a, expiry))).toMatchObject({ expYear: EXP_YEAR + 3 });
  });

  it('a new number the customer holds already: merged into that payment method, the old one deleted (audited)', async () => {
    const p = principalOf(await createMerchant(app, { name: 'C' }));
    const customer = (await createCustomer(app, p, { merchantReferenceId: 'c-1' })).id;
    const old = await tokenize(p, numberEnding('411111', '0069'));
    const oldForCustomer = await tokenize(p, numberEnding('411111', '0069'), customer);
    const replacement = numberEnding('411111', '4321');
    const existing = await tokenize(p, replacement, customer);
    // An updater that answers with the number the customer holds already.
    const stub: AccountUpdater = {
      id: 'stub',
      inquire: async (inquiries) =>
        inquiries.map((q) => ({
          paymentMethodId: q.paymentMethodId,
          kind: 'NEW_NUMBER',
          number: new Secret(replacement),
          expMonth: 9,
          expYear: EXP_YEAR + 1,
        })),
    };
    const stubbed = { ...app, updaters: { TEST: stub, LIVE: undefined } } as App;
    const r = await runAccountUpdater(stubbed, { merchantId: p.merchantId });
    // The customerless card takes the new number (no other customerless card has it); the customer's merges
    // (the payment method it merges into counts as asked too: whichever comes first in the run).
    expect(r).toMatchObject({ merged: 1 });
    expect(await findPaymentMethod(app, p, oldForCustomer)).toBeNull();
    const kept = (await findPaymentMethod(app, p, existing))!;
    expect(kept.updaterStatus).toBe('UPDATED');
    expect(await maskedCard(app, kept)).toMatchObject({ expMonth: 9, expYear: EXP_YEAR + 1 });
    expect((await findPaymentMethod(app, p, old))!.last4).toBe('4321');
    const audit = await querySql<{ detail: { mergedInto?: string } }>(
      database.url,
      "SELECT detail FROM audit_events WHERE merchant_id = $1 AND action = 'payment_method.account_updater' AND entity_id = $2",
      [p.merchantId, oldForCustomer],
    );
    expect(audit.map((x) => x.detail.mergedInto)).toEqual([existing]);
  });

  it("applies an answer in the card's own profile: merges within that profile, never into another profile's card", async () => {
    const m = await createMerchant(app, { name: 'E' });
    const inDefault = principalOf(m);
    const eu = await createProfile(app, { merchantId: m.merchantId, name: 'EU' });
    const p: Principal = { ...inDefault, profileId: eu, profileScope: eu };
    const customer = (await createCustomer(app, p, { merchantReferenceId: 'e-1' })).id;
    const replacement = numberEnding('411111', '8765');
    // The default profile holds the replacement number without a customer; profile EU holds it for the customer.
    const elsewhere = await tokenize(inDefault, replacement);
    const existing = await tokenize(p, replacement, customer);
    const oldForCustomer = await tokenize(p, numberEnding('411111', '0069'), customer);
    const stub: AccountUpdater = {
      id: 'stub',
      inquire: async (inquiries) =>
        inquiries.map((q) => ({
          paymentMethodId: q.paymentMethodId,
          kind: q.paymentMethodId === oldForCustomer ? 'NEW_NUMBER' : 'NO_CHANGE',
          number: new Secret(replacement),
          expMonth: 9,
          expYear: EXP_YEAR + 1,
        })) as never,
    };
    const r = await runAccountUpdater({ ...app, updaters: { TEST: stub, LIVE: undefined } } as App, { merchantId: m.merchantId });
    expect(r).toMatchObject({ merged: 1 });
    expect(await findPaymentMethod(app, p, oldForCustomer)).toBeNull();
    expect((await findPaymentMethod(app, p, existing))!.updaterStatus).toBe('UPDATED');
    // The default profile's card with the same number is untouched.
    expect((await findPaymentMethod(app, inDefault, elsewhere))!.updaterStatus).toBeNull();
  });

  it('vault updater run: exit 0 with the counts, non-zero for an unknown merchant; no card number in output or database', async () => {
    const p = principalOf(await createMerchant(app, { name: 'D' }));
    await tokenize(p, numberEnding('411111', '0077'));
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'updater', 'run', ...args], {
        env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: database.url, VAULT_MASTER_KEYS: TEST_MASTER_KEYS, LOG_LEVEL: 'info' },
        encoding: 'utf8',
        timeout: 90_000,
      });
    const r = run(['--merchant', p.merchantId, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ checked: 1, closed: 1 });
    expect(panLike(r.stdout + r.stderr)).toEqual([]);
    expect(run(['--merchant', 'mer_unknown']).status).not.toBe(0);
    const dump = await dumpDatabase(database.url);
    expect(panLikeInDump(dump), leakLines(dump, { dump: true }).join('\n')).toEqual([]);
  });
});

describe('PaymentMethod.updaterStatus through the API', { timeout: 60_000 }, () => {
  it('shows UPDATED with the new expiry and CLOSED; null before the updater reports; another merchant sees nothing', async () => {
    const m = await newMerchant();
    const other = await newMerchant();
    const shared = testApp();
    const p = principalOf(m);
    const save = async (number: string) =>
      (await tokenizeCard(shared, p, { card: { number, expMonth: 6, expYear: EXP_YEAR } })).paymentMethod.id;
    const renewed = await save(numberEnding('411111', '0051'));
    const closed = await save(numberEnding('411111', '0077'));
    const read = async (client: typeof m.client, id: string) =>
      (await client.request(PaymentMethodUpdaterStatusDocument, { id })).paymentMethod;
    expect(await read(m.client, renewed)).toMatchObject({ updaterStatus: null });
    await runAccountUpdater(shared, { merchantId: m.merchantId });
    expect(await read(m.client, renewed)).toEqual({
      id: renewed,
      updaterStatus: 'UPDATED',
      card: { last4: '0051', expMonth: 6, expYear: EXP_YEAR + 3 },
    });
    expect(await read(m.client, closed)).toMatchObject({ updaterStatus: 'CLOSED', card: { expYear: EXP_YEAR } });
    expect(await read(other.client, renewed)).toBeNull();
  });
});
