import { describe, expect, it } from 'vitest';
import {
  CreateCustomerDocument,
  CustomerDocument,
  CustomersDocument,
  DeleteCustomerDocument,
  DeletePaymentMethodDocument,
  PaymentMethodDocument,
  TokenizeCardDocument,
  UpdateCustomerDocument,
  UpdatePaymentMethodDocument,
} from '../../packages/client/src/index.js';
import { createApiKey, revokeApiKey } from '../../src/domain/merchants/apiKeys.js';
import { clientFor, newMerchant, rawGraphQL, useDatabase, testApp } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

useDatabase();

const PM_QUERY = 'query($id: ID!) { paymentMethod(id: $id) { id } }';

async function seed() {
  const m = await newMerchant();
  const c = await m.client.request(CreateCustomerDocument, { input: { name: 'Tenant A customer' } });
  if (c.createCustomer.__typename !== 'CreateCustomerSuccess') throw new Error('seed failed');
  const customerId = c.createCustomer.customer.id;
  const t = await m.client.request(TokenizeCardDocument, {
    input: { customerId, card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } },
  });
  if (t.tokenizeCard.__typename !== 'TokenizeCardSuccess') throw new Error('seed failed');
  return { m, customerId, pmId: t.tokenizeCard.paymentMethod.id };
}

describe('tenancy', () => {
  it("another merchant's key and the same merchant's live key see none of the test-mode records", async () => {
    const { m, customerId, pmId } = await seed();
    const other = await newMerchant();
    const live = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'LIVE' });
    for (const client of [other.client, clientFor(live.key)]) {
      expect((await client.request(PaymentMethodDocument, { id: pmId })).paymentMethod).toBeNull();
      expect((await client.request(CustomerDocument, { id: customerId })).customer).toBeNull();
      expect((await client.request(CustomersDocument, { first: 100 })).customers.edges).toEqual([]);
      expect((await client.request(UpdateCustomerDocument, { id: customerId, input: { name: 'x' } })).updateCustomer).toMatchObject({
        code: 'NOT_FOUND',
      });
      expect((await client.request(UpdatePaymentMethodDocument, { id: pmId, input: { nickName: 'x' } })).updatePaymentMethod).toMatchObject(
        { code: 'NOT_FOUND' },
      );
      expect((await client.request(DeletePaymentMethodDocument, { id: pmId })).deletePaymentMethod).toMatchObject({ code: 'NOT_FOUND' });
      expect((await client.request(DeleteCustomerDocument, { id: customerId })).deleteCustomer).toMatchObject({ code: 'NOT_FOUND' });
      const foreign = await client.request(TokenizeCardDocument, {
        input: { customerId, card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } },
      });
      expect(foreign.tokenizeCard).toMatchObject({ __typename: 'NotFoundError' });
    }
    // Untouched for the owner.
    const still = (await m.client.request(PaymentMethodDocument, { id: pmId })).paymentMethod;
    expect(still?.card?.nickName).toBeNull();
    expect((await m.client.request(CustomerDocument, { id: customerId })).customer?.name).toBe('Tenant A customer');
  });

  it('an id of another tenant answers exactly like an id that does not exist', async () => {
    const { pmId } = await seed();
    const other = await newMerchant();
    const foreign = await rawGraphQL({ query: PM_QUERY, variables: { id: pmId } }, { 'api-key': other.secretKey });
    const absent = await rawGraphQL({ query: PM_QUERY, variables: { id: 'pm_0000000000000000000000' } }, { 'api-key': other.secretKey });
    expect(foreign.status).toBe(absent.status);
    expect(foreign.json).toEqual(absent.json);
  });
});

describe('authentication', () => {
  it('answers 401 UNAUTHENTICATED without a key, with an unknown key, and with a revoked key', async () => {
    const m = await newMerchant();
    const extra = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST' });
    const ok = await rawGraphQL({ query: '{ customers { edges { cursor } } }' }, { 'api-key': extra.key });
    expect(ok.status).toBe(200);
    await revokeApiKey(testApp(), extra.keyId);
    // The server evicts its cached key when the revocation's NOTIFY arrives: asynchronous, milliseconds
    // (a request racing the notification on a busy machine may still pass). Within two seconds it must be 401.
    await expect
      .poll(async () => (await rawGraphQL({ query: '{ customers { edges { cursor } } }' }, { 'api-key': extra.key })).status, {
        timeout: 2_000,
        interval: 20,
      })
      .toBe(401);
    const cases: Record<string, string>[] = [
      {},
      { 'api-key': 'sk_test_unknownunknownunknownunknownunknownunkno' },
      { 'api-key': 'garbage' },
      { 'api-key': extra.key },
      { authorization: `Bearer ${extra.key}` },
    ];
    for (const headers of cases) {
      const res = await rawGraphQL({ query: '{ customers { edges { cursor } } }' }, headers);
      expect(res.status).toBe(401);
      expect(res.json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(res.json.data ?? null).toBeNull();
    }
  });

  it('accepts Authorization: Bearer', async () => {
    const m = await newMerchant();
    const res = await rawGraphQL({ query: '{ customers { edges { cursor } } }' }, { authorization: `Bearer ${m.secretKey}` });
    expect(res.status).toBe(200);
    expect(res.json.data.customers.edges).toEqual([]);
  });

  it('answers FORBIDDEN to a publishable key for anything but createCardToken, changing nothing', async () => {
    const { m, pmId } = await seed();
    const pk = { 'api-key': m.publishableKey };
    const query = await rawGraphQL({ query: PM_QUERY, variables: { id: pmId } }, pk);
    expect(query.json.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(query.json.data?.paymentMethod ?? null).toBeNull();
    const mutation = await rawGraphQL({ query: 'mutation { createCustomer(input: { name: "x" }) { __typename } }' }, pk);
    expect(mutation.json.errors[0].extensions.code).toBe('FORBIDDEN');
    const del = await rawGraphQL({ query: `mutation { deletePaymentMethod(id: "${pmId}") { __typename } }` }, pk);
    expect(del.json.errors[0].extensions.code).toBe('FORBIDDEN');
    expect((await m.client.request(PaymentMethodDocument, { id: pmId })).paymentMethod?.id).toBe(pmId);
    expect((await m.client.request(CustomersDocument, {})).customers.edges).toHaveLength(1);
  });

  it('refuses authorization before validating input (a bad input with no key is still 401)', async () => {
    const res = await rawGraphQL({
      query: 'mutation($i: TokenizeCardInput!) { tokenizeCard(input: $i) { __typename } }',
      variables: { i: { card: { number: '1', expMonth: 99, expYear: 1 } } },
    });
    expect(res.status).toBe(401);
  });
});
