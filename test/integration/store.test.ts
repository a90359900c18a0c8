import { describe, expect, inject, it } from 'vitest';
import { CreateCustomerDocument, TokenizeCardDocument } from '../../src/client/index.js';
import {
  columnOf,
  findPaymentMethodRow,
  inTransaction,
  onPool,
  PAYMENT_METHOD_FIELDS,
  paymentMethodColumns,
} from '../../src/domain/paymentMethods/store.js';
import { querySql } from '../helpers/db.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { newMerchant, rawGraphQL, success, testApp, uniqueVisa, useDatabase } from '../helpers/vault.js';

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
});
