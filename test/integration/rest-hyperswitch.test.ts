import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { curlRequests, type CurlRequest } from '../helpers/curl.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { expectDocumented, rest, uniqueToken } from '../helpers/rest.js';
import { cvcLike, dumpDatabase, panLike, panLikeInDump } from '../helpers/scan.js';
import { newMerchant, rawGraphQL, useDatabase, type TestMerchant } from '../helpers/vault.js';

const getDb = useDatabase();

// Seed 000, replayed: every curl request of the document with its body byte for byte. What is substituted:
// the api key, the host, ids from earlier answers (the customer, `{id}`), a card expiry in the future (the
// document's 10/25 has passed), and the PSP connector's id placeholder. x-profile-id is left out until
// profiles exist (the document's `<profile-id>` is a placeholder too).

const SEED = fileURLToPath(new URL('../fixtures/seed-000-hyperswitch-s2s-vault.txt', import.meta.url));
const [createCustomer, createCard, createWithPsp, createWithNetwork, retrieve, update, remove] = curlRequests(SEED) as [
  CurlRequest,
  CurlRequest,
  CurlRequest,
  CurlRequest,
  CurlRequest,
  CurlRequest,
  CurlRequest,
];
const SEED_CUSTOMER = '12345_cus_01926c58bc6e77c09e809964e72af8c8';
const YY = String(EXP_YEAR).slice(2);
const CARD = '4111111145551142';

/** The request as the document writes it, sent with `key`; `edit` substitutes in the body text. */
async function replay(r: CurlRequest, key: string, { id, edit = (b) => b }: { id?: string; edit?: (body: string) => string } = {}) {
  const path = new URL(r.url.replace('{id}', id ?? '{id}')).pathname;
  const { 'api-key': _key, 'x-profile-id': _profile, ...headers } = r.headers;
  const res = await rest(r.method, path, { key, headers, ...(r.body !== undefined && { body: edit(r.body) }) });
  expect(res.text).not.toContain(CARD);
  expect(panLike(res.text)).toEqual([]);
  await expectDocumented(r.method, decodeURI(new URL(r.url).pathname), res);
  return res;
}

const futureExpiry = (body: string) => body.replace('"card_exp_year": "25"', `"card_exp_year": "${YY}"`);

describe('seed 000 replayed against the vault', () => {
  let m: TestMerchant;
  let customerId: string;
  let paymentMethodId: string;
  const withCustomer = (body: string) => futureExpiry(body).replace(SEED_CUSTOMER, customerId);

  beforeAll(async () => {
    m = await newMerchant();
  });

  it('1. creates the customer', async () => {
    const res = await replay(createCustomer, m.secretKey);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      id: expect.stringMatching(/^cus_/),
      merchant_reference_id: 'customer_1742551597',
      name: 'John Doe',
      email: 'guest@example.com',
      phone: '999999999',
      phone_country_code: '+65',
      description: 'First customer',
      default_billing_address: { line1: '1467', city: 'San Fransico', zip: '94122', country: 'US', first_name: 'joseph' },
      default_shipping_address: { line2: 'Harrison Street', state: 'California', last_name: 'Doe' },
      metadata: { udf1: 'value1', new_customer: 'true', login_date: '2019-09-10T10:11:12Z' },
    });
    customerId = res.json.id;
    const again = await rest('GET', `/v2/customers/${customerId}`, { key: m.secretKey });
    expect(again.status).toBe(200);
    expect(again.json).toEqual(res.json);
    await expectDocumented('GET', '/v2/customers/{id}', again);
  });

  it('2. vaults the card for the customer: the masked card, never the number or CVC', async () => {
    const res = await replay(createCard, m.secretKey, { edit: withCustomer });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      id: expect.stringMatching(/^pm_/),
      merchant_id: m.merchantId,
      customer_id: customerId,
      payment_method_type: 'card',
      payment_method_subtype: 'credit',
      recurring_enabled: true,
      payment_method_data: {
        card: {
          last4_digits: '1142',
          card_isin: '411111',
          card_network: 'Visa',
          card_exp_month: '10',
          card_exp_year: String(EXP_YEAR),
          card_holder_name: 'John Doe',
          nick_name: 'John Doe',
          issuer_country: 'AF',
          card_issuer: '<string>',
          card_type: 'credit',
        },
      },
      billing: {
        address: { city: 'New York', country: 'AF', line1: '123, King Street', zip: '08807', first_name: 'John' },
        phone: { number: '9123456789', country_code: '+1' },
        email: 'abc@gmail.com',
      },
      metadata: {},
      connector_tokens: [],
      network_token: null,
    });
    expect(res.text).not.toContain('"242"');
    expect(cvcLike(res.text)).toEqual([]);
    paymentMethodId = res.json.id;
    // The same vault through GraphQL.
    const viaGraphql = await rawGraphQL(
      { query: 'query($id: ID!) { paymentMethod(id: $id) { card { last4 } } }', variables: { id: paymentMethodId } },
      { 'api-key': m.secretKey },
    );
    expect(viaGraphql.json.data.paymentMethod.card.last4).toBe('1142');
  });

  it('2a. asks the connector for a single-use PSP token (the same card: the same payment method)', async () => {
    const literal = await replay(createWithPsp, m.secretKey, { edit: withCustomer });
    // The document's connector id is a placeholder: no such connector.
    expect(literal.status).toBe(400);
    expect(literal.json.error).toMatchObject({ type: 'invalid_request_error', code: 'connector_unavailable' });

    const res = await replay(createWithPsp, m.secretKey, {
      edit: (b) => withCustomer(b).replace('"connector_id": "<string>"', '"connector_id": "sandbox"'),
    });
    expect(res.status).toBe(200);
    expect(res.json.id).toBe(paymentMethodId);
    expect(res.json.connector_tokens).toEqual([
      {
        connector_id: 'sandbox',
        token_type: 'single_use',
        status: 'active',
        connector_token_request_reference_id: expect.any(String),
        token: expect.any(String),
      },
    ]);
  });

  it('2b. asks for a network token ("enable": "Enable")', async () => {
    // As written, the document's billing email is "<string>": not an email address, refused like Hyperswitch does.
    const literal = await replay(createWithNetwork, m.secretKey, { edit: withCustomer });
    expect(literal.status).toBe(400);
    expect(literal.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_input', param: 'billing.email' });

    const res = await replay(createWithNetwork, m.secretKey, {
      edit: (b) => withCustomer(b).replace('"email": "<string>"', '"email": "john@example.com"'),
    });
    expect(res.status).toBe(200);
    expect(res.json.id).toBe(paymentMethodId);
    expect(res.json.network_token).toMatchObject({
      status: 'active',
      payment_method_data: { last4_digits: expect.stringMatching(/^\d{4}$/), card_network: 'Visa' },
    });
  });

  it('lists the customer saved payment methods', async () => {
    const res = await rest('GET', `/v2/customers/${customerId}/saved-payment-methods`, { key: m.secretKey });
    expect(res.status).toBe(200);
    await expectDocumented('GET', '/v2/customers/{id}/saved-payment-methods', res);
    expect(res.json.customer_payment_methods).toHaveLength(1);
    expect(res.json.customer_payment_methods[0]).toMatchObject({
      id: paymentMethodId,
      customer_id: customerId,
      payment_method_type: 'card',
      payment_method_data: { card: { last4_digits: '1142' } },
      requires_cvv: false,
      psp_tokenization_enabled: false,
      network_tokenization: { status: 'active' },
    });
  });

  it('3. retrieves it', async () => {
    const res = await replay(retrieve, m.secretKey, { id: paymentMethodId });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: paymentMethodId, payment_method_data: { card: { last4_digits: '1142' } } });
  });

  it("4. updates the names and records the connector's token for the default connector", async () => {
    const res = await replay(update, m.secretKey, { id: paymentMethodId });
    expect(res.status).toBe(200);
    expect(res.json.payment_method_data.card).toMatchObject({ card_holder_name: 'John Doe', nick_name: 'John Doe' });
    expect(res.json.connector_tokens).toContainEqual({
      connector_id: 'sandbox',
      token_type: 'multi_use',
      status: 'active',
      connector_token_request_reference_id: '<string>',
      token: 'pm_9UhMqBMEOooRIvJFFdeW',
    });
    const saved = await rest('GET', `/v2/customers/${customerId}/saved-payment-methods`, { key: m.secretKey });
    expect(saved.json.customer_payment_methods[0].psp_tokenization_enabled).toBe(true);
  });

  it('5. deletes it: the id then reads as absent', async () => {
    const res = await replay(remove, m.secretKey, { id: paymentMethodId });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ id: paymentMethodId });
    const gone = await replay(retrieve, m.secretKey, { id: paymentMethodId });
    expect(gone.status).toBe(404);
    expect(gone.json.error).toMatchObject({ type: 'not_found_error', code: 'not_found' });
    const twice = await replay(remove, m.secretKey, { id: paymentMethodId });
    expect(twice.status).toBe(404);
  });
});

describe('tenancy, keys and errors of the v2 routes', () => {
  it("another merchant's customer and payment method ids are absent (404), and stay untouched", async () => {
    const a = await newMerchant();
    const b = await newMerchant();
    const customer = await rest('POST', '/v2/customers', { key: a.secretKey, body: { name: 'Ada' } });
    const pm = await rest('POST', '/v2/payment-methods', {
      key: a.secretKey,
      body: {
        payment_method_type: 'card',
        customer_id: customer.json.id,
        payment_method_data: { card: { card_number: '4242424242424242', card_exp_month: '01', card_exp_year: YY } },
      },
    });
    expect(pm.status).toBe(200);
    const id = pm.json.id;
    for (const [method, path, body] of [
      ['GET', `/v2/customers/${customer.json.id}`],
      ['GET', `/v2/customers/${customer.json.id}/saved-payment-methods`],
      ['GET', `/v2/payment-methods/${id}`],
      ['PATCH', `/v2/payment-methods/${id}/update-saved-payment-method`, { payment_method_data: { card: { nick_name: 'mine' } } }],
      ['DELETE', `/v2/payment-methods/${id}`],
    ] as const) {
      const res = await rest(method, path, { key: b.secretKey, ...(body && { body }) });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.json.error.type).toBe('not_found_error');
    }
    // Nor can B attach a card to A's customer.
    const attach = await rest('POST', '/v2/payment-methods', {
      key: b.secretKey,
      body: {
        payment_method_type: 'card',
        customer_id: customer.json.id,
        payment_method_data: { card: { card_number: '4242424242424242', card_exp_month: '01', card_exp_year: YY } },
      },
    });
    expect(attach.status).toBe(404);
    const still = await rest('GET', `/v2/payment-methods/${id}`, { key: a.secretKey });
    expect(still.status).toBe(200);
    expect(still.json.payment_method_data.card.nick_name).toBeNull();
  });

  it('401 without a key, 422 for an expired or invalid card, 400 for a kind not served', async () => {
    const m = await newMerchant();
    const none = await rest('GET', '/v2/payment-methods/pm_x');
    expect(none.status).toBe(401);
    expect(none.json.error.type).toBe('authentication_error');

    const card = (over: Record<string, unknown>) => ({
      payment_method_type: 'card',
      payment_method_data: { card: { card_number: '4242424242424242', card_exp_month: '10', card_exp_year: YY, ...over } },
    });
    const expired = await rest('POST', '/v2/payment-methods', { key: m.secretKey, body: card({ card_exp_year: '20' }) });
    expect(expired.status).toBe(422);
    expect(expired.json.error).toMatchObject({
      type: 'card_error',
      code: 'card_expired',
      param: 'payment_method_data.card.card_exp_month',
    });

    const luhn = await rest('POST', '/v2/payment-methods', { key: m.secretKey, body: card({ card_number: '4242424242424241' }) });
    expect(luhn.status).toBe(422);
    expect(luhn.json.error).toMatchObject({ code: 'invalid_card_number', param: 'payment_method_data.card.card_number' });
    expect(luhn.text).not.toContain('4242424242424241');

    const cvc = await rest('POST', '/v2/payment-methods', { key: m.secretKey, body: card({ card_cvc: '12' }) });
    expect(cvc.status).toBe(422);
    expect(cvc.json.error).toMatchObject({ code: 'invalid_cvc', param: 'payment_method_data.card.card_cvc' });

    // Bank debits are served (rest-bank.test.ts); other kinds are not.
    const wallet = await rest('POST', '/v2/payment-methods', {
      key: m.secretKey,
      body: {
        payment_method_type: 'wallet',
        payment_method_subtype: 'apple_pay',
        payment_method_data: { wallet: { apple_pay: { payment_data: 'x' } } },
      },
    });
    expect(wallet.status).toBe(400);
    expect(wallet.json.error).toMatchObject({ code: 'unsupported_payment_method_type', param: 'payment_method_type' });

    const update = await rest('PATCH', '/v2/payment-methods/pm_0000000000000000000000/update-saved-payment-method', {
      key: m.secretKey,
      body: {
        connector_token_details: { token: ' ', token_type: 'multi_use' },
        payment_method_data: { card: { card_holder_name: 'x'.repeat(101) } },
      },
    });
    expect(update.status).toBe(400);
    expect(update.json.error.fields.map((f: { param: string }) => f.param).sort()).toEqual([
      'connector_token_details.token',
      'payment_method_data.card.card_holder_name',
    ]);

    const noCard = await rest('POST', '/v2/payment-methods', {
      key: m.secretKey,
      body: { payment_method_type: 'card', payment_method_data: {} },
    });
    expect(noCard.status).toBe(400);
    expect(noCard.json.error.param).toBe('payment_method_data.card');

    const badCountry = await rest('POST', '/v2/payment-methods', { key: m.secretKey, body: card({ card_issuing_country: 'Atlantis' }) });
    expect(badCountry.status).toBe(400);
    expect(badCountry.json.error.param).toBe('payment_method_data.card.card_issuing_country');

    expect(await getDb().prisma.paymentMethod.count({ where: { merchantId: m.merchantId } })).toBe(0);

    const unknownRoute = await rest('GET', '/v2/payouts', { key: m.secretKey });
    expect(unknownRoute.status).toBe(404);
    const wrongMethod = await rest('PUT', '/v2/customers', { key: m.secretKey, body: {} });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });

  it('replays a create for the same Idempotency-Key', async () => {
    const m = await newMerchant();
    const headers = { 'idempotency-key': uniqueToken('cus') };
    const first = await rest('POST', '/v2/customers', { key: m.secretKey, body: { name: 'Once' }, headers });
    const second = await rest('POST', '/v2/customers', { key: m.secretKey, body: { name: 'Once' }, headers });
    expect(second.status).toBe(200);
    expect(second.json).toEqual(first.json);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await getDb().prisma.customer.count({ where: { merchantId: m.merchantId } })).toBe(1);
    // The same key on another route is another request.
    const other = await rest('POST', '/v2/payment-methods', {
      key: m.secretKey,
      body: {
        payment_method_type: 'card',
        payment_method_data: { card: { card_number: '4242424242424242', card_exp_month: '1', card_exp_year: YY } },
      },
      headers,
    });
    expect(other.status).toBe(409);
  });

  it('audits what the routes do under the key and x-request-id that did it, as GraphQL does', async () => {
    const m = await newMerchant();
    const headers = { 'x-request-id': uniqueToken('rest-audit') };
    const customer = await rest('POST', '/v2/customers', { key: m.secretKey, body: { name: 'Audited' }, headers });
    const pm = await rest('POST', '/v2/payment-methods', {
      key: m.secretKey,
      body: {
        payment_method_type: 'card',
        customer_id: customer.json.id,
        payment_method_data: { card: { card_number: '4242424242424242', card_exp_month: '3', card_exp_year: YY } },
      },
      headers,
    });
    await rest('DELETE', `/v2/payment-methods/${pm.json.id}`, { key: m.secretKey, headers });
    expect(customer.headers.get('x-request-id')).toBe(headers['x-request-id']);
    const events = await getDb().prisma.auditEvent.findMany({
      where: { merchantId: m.merchantId, requestId: headers['x-request-id'] },
      orderBy: { position: 'asc' },
    });
    expect(events.map((e) => [e.action, e.entityId])).toEqual([
      ['customer.create', customer.json.id],
      ['payment_method.create', pm.json.id],
      ['payment_method.delete', pm.json.id],
    ]);
    expect(new Set(events.map((e) => e.mode))).toEqual(new Set(['TEST']));
    expect(JSON.stringify(events.map((e) => e.detail))).not.toContain('4242424242424242');
  });

  it('answers an unexpected fault 500 with nothing about it', async () => {
    const m = await newMerchant();
    const vault = (number: string) =>
      rest('POST', '/v2/payment-methods', {
        key: m.secretKey,
        body: {
          payment_method_type: 'card',
          payment_method_data: { card: { card_number: number, card_exp_month: '5', card_exp_year: YY } },
        },
      });
    const a = (await vault('4242424242424242')).json.id;
    const b = (await vault('5555555555554444')).json.id;
    // A ciphertext moved to another row does not decrypt (its AAD names the row): the read fails.
    const row = await getDb().prisma.paymentMethod.findFirstOrThrow({ where: { merchantId: m.merchantId, id: a } });
    await getDb().prisma
      .$executeRaw`UPDATE payment_methods SET card_expiry = ${row.cardExpiry} WHERE merchant_id = ${m.merchantId} AND id = ${b}`;
    const res = await rest('GET', `/v2/payment-methods/${b}`, { key: m.secretKey });
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ error: { type: 'api_error', code: 'internal_server_error', message: 'Internal server error' } });
    expect(res.text).not.toContain('v1.dk_');
  });

  it('a kept answer goes with the payment method it names: after a delete, the same key acts again', async () => {
    const m = await newMerchant();
    const headers = { 'idempotency-key': uniqueToken('pm') };
    const body = {
      payment_method_type: 'card',
      payment_method_data: { card: { card_number: '4242424242424242', card_exp_month: '6', card_exp_year: YY } },
    };
    const first = await rest('POST', '/v2/payment-methods', { key: m.secretKey, body, headers });
    const replayed = await rest('POST', '/v2/payment-methods', { key: m.secretKey, body, headers });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.json.id).toBe(first.json.id);
    expect((await rest('DELETE', `/v2/payment-methods/${first.json.id}`, { key: m.secretKey })).status).toBe(200);
    const again = await rest('POST', '/v2/payment-methods', { key: m.secretKey, body, headers });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(again.json.id).not.toBe(first.json.id);
  });

  it('refuses a body over the limit with 413 in the error shape', async () => {
    const m = await newMerchant();
    const res = await rest('POST', '/v2/customers', { key: m.secretKey, body: { description: 'x'.repeat(70 * 1024) } });
    expect(res.status).toBe(413);
    expect(res.json.error).toMatchObject({ code: 'request_entity_too_large' });
  });

  it('leaves no card number or CVC in what the REST routes stored or logged', async () => {
    const m = await newMerchant();
    const number = '4000056655665556';
    const ok = await rest('POST', '/v2/payment-methods', {
      key: m.secretKey,
      body: {
        payment_method_type: 'card',
        payment_method_data: { card: { card_number: number, card_exp_month: '4', card_exp_year: YY, card_cvc: '739' } },
      },
      headers: { 'idempotency-key': uniqueToken('hygiene') },
    });
    expect(ok.status).toBe(200);
    await rest('POST', '/v1/tokens', { key: m.publishableKey, body: { card: { number, exp_month: 4, exp_year: EXP_YEAR, cvc: '739' } } });
    // Card numbers where they do not belong: a path, a field name, a metadata value, an id.
    await rest('GET', `/v2/payment-methods/${number}`, { key: m.secretKey });
    await rest('POST', '/v2/customers', { key: m.secretKey, body: { [number]: 'x' } });
    await rest('POST', '/v2/customers', { key: m.secretKey, body: { metadata: { note: number } } });
    await rest('POST', '/v1/payments', { key: m.secretKey, body: { amount: 1, currency: 'USD', token: number } });
    await new Promise((r) => setTimeout(r, 300)); // let the server flush its log

    const log = readFileSync(inject('serverLog'), 'utf8');
    expect(log).toContain('"path":"/v2/payment-methods"');
    expect(log).not.toContain(number);
    expect(panLike(log)).toEqual([]);
    expect(cvcLike(log)).toEqual([]);
    const dump = await dumpDatabase(inject('databaseUrl'));
    expect(dump).not.toContain(number);
    expect(panLikeInDump(dump)).toEqual([]);
    expect(cvcLike(dump)).toEqual([]);
  });
});
