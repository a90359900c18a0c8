import { describe, expect, inject, it } from 'vitest';
import { CreateCustomerDocument, TokenizeCardDocument } from '../../packages/client/src/index.js';
import {
  columnOf,
  findPaymentMethodRow,
  inTransaction,
  onPool,
  PAYMENT_METHOD_FIELDS,
  paymentMethodColumns,
} from '../../src/domain/paymentMethods/store.js';
import { createTestApp, createTestDatabase, querySql } from '../helpers/db.js';
import { migrate } from '../../src/db/migrate.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { purgeExpired, tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import { retainUntil } from '../../src/domain/paymentMethods/retention.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { newMerchant, rawGraphQL, success, testApp, uniqueVisa, useDatabase, principalOf } from '../helpers/vault.js';

// The payment method store's raw statements read the columns the Prisma model declares, and a row read by
// them looks exactly like one the ORM reads, on the pool and inside a transaction.

const getDb = useDatabase();

describe('payment method store', () => {
  it('derives its column list from the Prisma model, and the model matches the table', async () => {
    const columns = await querySql<{ column_name: string }>(
      inject('databaseUrl'),
      `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'payment_methods'`,
    );
    expect(PAYMENT_METHOD_FIELDS.map(columnOf).sort()).toEqual(columns.map((c) => c.column_name).sort());
    expect(paymentMethodColumns('t')).toContain('t.retention_extension_months AS "retentionExtensionMonths"');
    expect(paymentMethodColumns('t')).toContain('t.last4,');
  });

  it('reads a payment method as the ORM does, on the pool and in a transaction', async () => {
    const m = await newMerchant();
    const saved = success(
      (
        await m.client.request(TokenizeCardDocument, {
          input: {
            card: { number: uniqueVisa(), expMonth: 4, expYear: EXP_YEAR, holderName: 'Store Test' },
            billing: { email: 'store@example.com' },
            metadata: { order: 'A-1', n: 2 },
          },
        })
      ).tokenizeCard,
      'TokenizeCardSuccess',
    );
    const principal = { merchantId: m.merchantId, mode: 'TEST' as const };
    const id = saved.paymentMethod.id;
    const viaOrm = await getDb().prisma.paymentMethod.findFirstOrThrow({ where: { ...principal, id } });
    const onThePool = await findPaymentMethodRow(onPool(testApp()), principal, id);
    const inATransaction = await getDb().prisma.$transaction((tx) => findPaymentMethodRow(inTransaction(tx), principal, id));
    expect(Object.keys(onThePool!).sort()).toEqual([...PAYMENT_METHOD_FIELDS].sort());
    expect({ ...onThePool }).toEqual({ ...viaOrm });
    expect({ ...inATransaction }).toEqual({ ...viaOrm });
    expect(await findPaymentMethodRow(onPool(testApp()), { ...principal, mode: 'LIVE' }, id)).toBeNull();
  });

  it('serves the masked read with its relations from the one statement and the relations loader', async () => {
    const m = await newMerchant();
    const customer = success(
      (await m.client.request(CreateCustomerDocument, { input: { name: 'Rel Test' } })).createCustomer,
      'CreateCustomerSuccess',
    );
    const saved = success(
      (
        await m.client.request(TokenizeCardDocument, {
          input: {
            customerId: customer.customer.id,
            card: { number: uniqueVisa(), expMonth: 4, expYear: EXP_YEAR },
            pspTokenization: { connectorId: 'sandbox', tokenizationType: 'MULTI_USE' },
          },
        })
      ).tokenizeCard,
      'TokenizeCardSuccess',
    );
    const answer = await rawGraphQL(
      {
        query: `query($id: ID!) { paymentMethod(id: $id) { id customer { id name } pspTokens { connectorId } networkToken { status } card { last4 } } }`,
        variables: { id: saved.paymentMethod.id },
      },
      { 'api-key': m.secretKey },
    );
    expect(answer.json.errors).toBeUndefined();
    expect(answer.json.data.paymentMethod).toMatchObject({
      id: saved.paymentMethod.id,
      customer: { id: customer.customer.id, name: 'Rel Test' },
      pspTokens: [{ connectorId: 'sandbox' }],
      networkToken: null,
    });
  });

  it.each(['Asia/Tokyo', 'America/New_York'])(
    'stores and compares the same instants on the pool and in a transaction, in %s',
    async (zone) => {
      // Dates sent through Prisma's raw queries were read in the session's time zone: in Tokyo a card saved
      // with PSP tokens (the transaction path) was stored with retain_until 9 hours early, and in New York the
      // purge took cards 5 hours before their time.
      const db = await createTestDatabase();
      await migrate(db.url);
      await querySql(db.url, `ALTER DATABASE "${new URL(db.url).pathname.slice(1)}" SET timezone = '${zone}'`);
      const now = new Date('2030-03-15T12:34:56.789Z');
      const app = await createTestApp(db.url, { clock: () => now });
      try {
        const m = await createMerchant(app, { name: 'tz' });
        const principal = principalOf(m, { keyId: 'key_tz' });
        const card = (expMonth: number, number = uniqueVisa()) => ({ number, expMonth, expYear: 2032 });
        const psp = { connectorId: 'sandbox', tokenizationType: 'MULTI_USE' as const };
        const onThePool = await tokenizeCard(app, principal, { card: card(4) });
        const inATransaction = await tokenizeCard(app, principal, { card: card(4), pspTokenization: psp });
        const again = uniqueVisa();
        await tokenizeCard(app, principal, { card: card(4, again) });
        const duplicate = await tokenizeCard(app, principal, { card: card(5, again), pspTokenization: psp });
        expect(duplicate.duplicate).toBe(true);
        const stored = await querySql<{ id: string; retain_until: Date; created_at: Date; updated_at: Date }>(
          db.url,
          'SELECT id, retain_until, created_at, updated_at FROM payment_methods WHERE merchant_id = $1',
          [m.merchantId],
        );
        const row = (id: string) => stored.find((r) => r.id === id)!;
        for (const id of [onThePool.paymentMethod.id, inATransaction.paymentMethod.id]) {
          expect(row(id).retain_until.toISOString()).toBe(retainUntil(4, 2032).toISOString());
          expect(row(id).created_at.toISOString()).toBe(now.toISOString());
        }
        expect(row(duplicate.paymentMethod.id).retain_until.toISOString()).toBe(retainUntil(5, 2032).toISOString());
        expect(row(duplicate.paymentMethod.id).updated_at.toISOString()).toBe(now.toISOString());

        // Retention: a card due in an hour stays, one due an hour ago goes.
        const hour = 3_600_000;
        await querySql(db.url, 'UPDATE payment_methods SET retain_until = $2 WHERE id = $1', [
          onThePool.paymentMethod.id,
          new Date(now.getTime() + hour),
        ]);
        await querySql(db.url, 'UPDATE payment_methods SET retain_until = $2 WHERE id = $1', [
          inATransaction.paymentMethod.id,
          new Date(now.getTime() - hour),
        ]);
        expect(await purgeExpired(app, now)).toBe(1);
        const left = await querySql<{ id: string }>(db.url, 'SELECT id FROM payment_methods WHERE merchant_id = $1', [m.merchantId]);
        expect(left.map((r) => r.id)).toContain(onThePool.paymentMethod.id);
        expect(left.map((r) => r.id)).not.toContain(inATransaction.paymentMethod.id);
      } finally {
        await app.stop();
        await db.drop();
      }
    },
  );
});
