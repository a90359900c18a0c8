// A retention extension, a duplicate tokenization (new expiry) and an update with a new expiry may commit in
// any order; whatever the order, the stored retention is the latest expiry plus every extension granted. A
// held row lock makes the requests queue so that the racy order is exercised (the assertions hold in any order).
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { querySql } from '../helpers/db.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { newMerchant, rawGraphQL, uniqueVisa, useDatabase } from '../helpers/vault.js';
import { retainUntil } from '../../src/domain/paymentMethods/retention.js';

useDatabase();
const TOK = `mutation($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename ... on TokenizeCardSuccess { duplicate paymentMethod { id retainUntil } } ... on Error { message } } }`;
const EXT = `mutation($id: ID!, $months: Int!) { extendRetention(id: $id, months: $months) { __typename ... on ExtendRetentionSuccess { paymentMethod { id retainUntil } } ... on Error { message } } }`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Holds the payment method's row lock until `release()`: requests sent meanwhile queue on it in order. */
async function holdRow(merchantId: string, id: string): Promise<() => Promise<void>> {
  const locker = new pg.Client({ connectionString: inject('databaseUrl') });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT 1 FROM payment_methods WHERE merchant_id = $1 AND id = $2 FOR UPDATE', [merchantId, id]);
  return async () => {
    await locker.query('COMMIT');
    await locker.end();
  };
}

/** The stored retention: the extension granted and the instant it runs to. */
async function expectRetention(merchantId: string, id: string, until: Date, months: number): Promise<void> {
  const [row] = await querySql<{ retain_until: Date; retention_extension_months: number }>(
    inject('databaseUrl'),
    'SELECT retain_until, retention_extension_months FROM payment_methods WHERE merchant_id = $1 AND id = $2',
    [merchantId, id],
  );
  expect(row?.retention_extension_months).toBe(months);
  expect(row?.retain_until.toISOString()).toBe(until.toISOString());
}

describe('retention changes racing each other', () => {
  for (const psp of [false, true]) {
    it(`keeps the new expiry's retention plus the extension (psp=${psp})`, async () => {
      const m = await newMerchant();
      const number = uniqueVisa();
      const tok = (year: number) =>
        rawGraphQL(
          {
            query: TOK,
            variables: {
              input: {
                card: { number, expMonth: 4, expYear: year },
                ...(psp && { pspTokenization: { connectorId: 'sandbox', tokenizationType: 'SINGLE_USE' } }),
              },
            },
          },
          { 'api-key': m.secretKey },
        );
      const first = await tok(EXP_YEAR);
      const id = first.json.data.tokenizeCard.paymentMethod.id;
      const release = await holdRow(m.merchantId, id);
      const dup = tok(EXP_YEAR + 2); // its UPDATE queues first on the row lock
      await sleep(700);
      const ext = rawGraphQL({ query: EXT, variables: { id, months: 12 } }, { 'api-key': m.secretKey }); // reads the old retain_until, then queues
      await sleep(700);
      await release();
      const [d, e] = await Promise.all([dup, ext]);
      expect(d.json.errors).toBeUndefined();
      expect(e.json.errors).toBeUndefined();
      await expectRetention(m.merchantId, id, retainUntil(4, EXP_YEAR + 2, 12), 12);
    });
  }
  it('updatePaymentMethod with a new expiry keeps a concurrent extension', async () => {
    const m = await newMerchant();
    const first = await rawGraphQL(
      { query: TOK, variables: { input: { card: { number: uniqueVisa(), expMonth: 4, expYear: EXP_YEAR } } } },
      { 'api-key': m.secretKey },
    );
    const id = first.json.data.tokenizeCard.paymentMethod.id;
    const release = await holdRow(m.merchantId, id);
    const ext = rawGraphQL({ query: EXT, variables: { id, months: 12 } }, { 'api-key': m.secretKey });
    await sleep(700);
    const upd = rawGraphQL(
      {
        query: `mutation($id: ID!, $input: UpdatePaymentMethodInput!) { updatePaymentMethod(id: $id, input: $input) { __typename } }`,
        variables: { id, input: { expMonth: 4, expYear: EXP_YEAR + 2 } },
      },
      { 'api-key': m.secretKey },
    );
    await sleep(700);
    await release();
    const [e, u] = await Promise.all([ext, upd]);
    expect(e.json.errors).toBeUndefined();
    expect(u.json.errors).toBeUndefined();
    await expectRetention(m.merchantId, id, retainUntil(4, EXP_YEAR + 2, 12), 12);
  });
});
