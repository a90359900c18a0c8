import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { AuditEventsDocument } from '../../packages/client/src/index.js';
import { openPlaintext } from '../../src/db/encryption.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { abandon, begin, complete, IDEMPOTENCY_STALE_MS, sweepIdempotencyKeys } from '../../src/domain/idempotency/idempotency.js';
import { sweep } from '../../src/domain/sweep.js';
import { querySql } from '../helpers/db.js';
import { newMerchant, rawGraphQL, uniqueVisa, useDatabase, type TestMerchant, testApp, principalOf } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

const getDb = useDatabase();

const CREATE_CUSTOMER = `mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) { __typename ... on CreateCustomerSuccess { customer { id name email createdAt } } ... on Error { code message } }
}`;
const TOKENIZE = `mutation Tokenize($input: TokenizeCardInput!) {
  tokenizeCard(input: $input) { __typename ... on TokenizeCardSuccess { duplicate paymentMethod { id card { last4 } } } ... on Error { code } }
}`;
const CARD_TOKEN = `mutation Token($input: CreateCardTokenInput!) {
  createCardToken(input: $input) { __typename ... on CreateCardTokenSuccess { token { id } } ... on Error { code } }
}`;

function send(apiKey: string, idempotencyKey: string | undefined, query: string, variables: Record<string, unknown> = {}) {
  return rawGraphQL(
    { query, variables },
    { 'api-key': apiKey, ...(idempotencyKey !== undefined && { 'idempotency-key': idempotencyKey }) },
  );
}

const customers = (merchantId: string) => getDb().prisma.customer.count({ where: { merchantId } });
const keyRows = (merchantId: string) => getDb().prisma.idempotencyKey.findMany({ where: { merchantId } });

describe('Idempotency-Key', () => {
  it('a payment whose answer was lost (its key released, its transaction committed) is returned by the retry, not paid again', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    const PAY = `mutation Pay($input: CreatePaymentInput!) {
      createPayment(input: $input) { __typename ... on CreatePaymentSuccess { payment { id amount status connectorReference } } ... on Error { code } }
    }`;
    const vars = { input: { amount: 4321, currency: 'EUR', card: { number: uniqueVisa(), expMonth: 12, expYear: EXP_YEAR, cvc: '123' } } };
    const first = await send(m.secretKey, key, PAY, vars);
    const paid = first.json.data.createPayment;
    expect(paid.__typename).toBe('CreatePaymentSuccess');
    // What a lost answer leaves behind: the payment committed, the key's record released (the vault answered
    // SERVICE_UNAVAILABLE and abandoned the claim; test/integration/failover.test.ts makes that happen for real).
    await getDb().prisma.idempotencyKey.deleteMany({ where: { merchantId: m.merchantId } });
    const retry = await send(m.secretKey, key, PAY, vars);
    expect(retry.json.data.createPayment).toEqual(paid);
    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId } })).toBe(1);
    // The key still stands for that payment: other variables under it conflict, and nothing is paid.
    await getDb().prisma.idempotencyKey.deleteMany({ where: { merchantId: m.merchantId } });
    const other = await send(m.secretKey, key, PAY, { input: { ...vars.input, amount: 4322 } });
    expect(other.status).toBe(409);
    expect(other.json.errors[0].extensions.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId } })).toBe(1);
    // The conflict did not take the key over: the original request still gets its payment.
    expect((await send(m.secretKey, key, PAY, vars)).json.data.createPayment).toEqual(paid);
    // After 24 hours the key is the client's again: the sweep gives it back with its expired record.
    await getDb().prisma.idempotencyKey.updateMany({ where: { merchantId: m.merchantId }, data: { expiresAt: new Date(Date.now() - 1) } });
    await sweep(testApp());
    const held = await getDb().prisma.payment.findMany({ where: { merchantId: m.merchantId }, select: { idempotencyKeyId: true } });
    expect(held).toEqual([{ idempotencyKeyId: null }]);
    const later = await send(m.secretKey, key, PAY, vars);
    expect(later.json.data.createPayment.payment.id).not.toBe(paid.payment.id);
    expect(later.json.data.createPayment.__typename).toBe('CreatePaymentSuccess');
    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId } })).toBe(2);
  });

  it('a retried createCustomer replays the identical response and creates one customer', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    const vars = { input: { name: 'Ida Empotent', email: 'ida@example.com' } };
    const first = await send(m.secretKey, key, CREATE_CUSTOMER, vars);
    expect(first.status).toBe(200);
    expect(first.json.data.createCustomer.__typename).toBe('CreateCustomerSuccess');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const retry = await send(m.secretKey, key, CREATE_CUSTOMER, vars);
    expect(retry.status).toBe(200);
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await customers(m.merchantId)).toBe(1);
    // Whitespace and variable key order do not make a request different.
    const reformatted = await send(m.secretKey, key, CREATE_CUSTOMER.replace(/\s+/g, '  '), {
      input: { email: 'ida@example.com', name: 'Ida Empotent' },
    });
    expect(reformatted.text).toBe(first.text);
    expect(await customers(m.merchantId)).toBe(1);
  });

  it('a retried tokenizeCard replays the first response (duplicate stays false) instead of acting again', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    const vars = { input: { card: { number: uniqueVisa(), expMonth: 3, expYear: EXP_YEAR } } };
    const first = await send(m.secretKey, key, TOKENIZE, vars);
    expect(first.json.data.tokenizeCard).toMatchObject({ __typename: 'TokenizeCardSuccess', duplicate: false });
    const retry = await send(m.secretKey, key, TOKENIZE, vars);
    expect(retry.json).toEqual(first.json);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    // Executed again (without the key) the same card is a duplicate: the retry above was not executed.
    const again = await send(m.secretKey, undefined, TOKENIZE, vars);
    expect(again.json.data.tokenizeCard).toMatchObject({
      duplicate: true,
      paymentMethod: { id: first.json.data.tokenizeCard.paymentMethod.id },
    });
  });

  it('the same key with different variables is IDEMPOTENCY_CONFLICT (409) and creates nothing', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    await send(m.secretKey, key, CREATE_CUSTOMER, { input: { name: 'First' } });
    const other = await send(m.secretKey, key, CREATE_CUSTOMER, { input: { name: 'Second' } });
    expect(other.status).toBe(409);
    expect(other.json.data).toBeUndefined();
    expect(other.json.errors[0]).toMatchObject({
      message: 'Idempotency-Key was already used with a different operation, variables or api key',
      extensions: { code: 'IDEMPOTENCY_CONFLICT' },
    });
    expect(other.json.errors[0].extensions.http).toBeUndefined();
    // A different operation under the same key conflicts too.
    const otherOperation = await send(m.secretKey, key, TOKENIZE, {
      input: { card: { number: uniqueVisa(), expMonth: 3, expYear: EXP_YEAR } },
    });
    expect(otherOperation.json.errors[0].extensions.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(await customers(m.merchantId)).toBe(1);
    expect(await getDb().prisma.paymentMethod.count({ where: { merchantId: m.merchantId } })).toBe(0);
  });

  it('10 concurrent requests with one key: one customer, ten identical responses', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    const vars = { input: { name: 'Concurrent Carl' } };
    const results = await Promise.all(Array.from({ length: 10 }, () => send(m.secretKey, key, CREATE_CUSTOMER, vars)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(results.map((r) => r.text)).size).toBe(1);
    expect(results[0]!.json.data.createCustomer.__typename).toBe('CreateCustomerSuccess');
    expect(results.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(9);
    expect(await customers(m.merchantId)).toBe(1);
    expect(await keyRows(m.merchantId)).toHaveLength(1);
  });

  it("keys are independent across merchants and across one merchant's test and live keys", async () => {
    const a = await newMerchant();
    const b = await newMerchant();
    const live = await createApiKey(testApp(), { merchantId: a.merchantId, kind: 'SECRET', mode: 'LIVE' });
    const key = randomUUID();
    const vars = { input: { name: 'Shared Key' } };
    const ids = [];
    for (const apiKey of [a.secretKey, b.secretKey, live.key]) {
      const r = await send(apiKey, key, CREATE_CUSTOMER, vars);
      expect(r.headers.get('idempotent-replayed')).toBeNull();
      ids.push(r.json.data.createCustomer.customer.id);
    }
    expect(new Set(ids).size).toBe(3);
    expect(await getDb().prisma.customer.count({ where: { merchantId: a.merchantId, mode: 'TEST' } })).toBe(1);
    expect(await getDb().prisma.customer.count({ where: { merchantId: a.merchantId, mode: 'LIVE' } })).toBe(1);
    expect(await customers(b.merchantId)).toBe(1);
  });

  it('a key that created a token with a secret key does not replay to the publishable key', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    const vars = { input: { card: { number: '4242424242424242', expMonth: 4, expYear: EXP_YEAR } } };
    const secret = await send(m.secretKey, key, CARD_TOKEN, vars);
    expect(secret.json.data.createCardToken.__typename).toBe('CreateCardTokenSuccess');
    const publishable = await send(m.publishableKey, key, CARD_TOKEN, vars);
    expect(publishable.json.errors[0].extensions.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(await getDb().prisma.cardToken.count({ where: { merchantId: m.merchantId } })).toBe(1);
  });

  it('queries ignore the header, malformed or not', async () => {
    const m = await newMerchant();
    const query = 'query { customers(first: 1) { edges { node { id } } } }';
    for (const key of [randomUUID(), 'x'.repeat(300)]) {
      const r = await send(m.secretKey, key, query);
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ data: { customers: { edges: [] } } });
      expect(r.headers.get('idempotent-replayed')).toBeNull();
    }
    expect(await keyRows(m.merchantId)).toEqual([]);
  });

  it('an expired key acts again', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    const vars = { input: { name: 'Twice' } };
    const first = await send(m.secretKey, key, CREATE_CUSTOMER, vars);
    await getDb().prisma.idempotencyKey.updateMany({ where: { merchantId: m.merchantId }, data: { expiresAt: new Date(Date.now() - 1) } });
    const later = await send(m.secretKey, key, CREATE_CUSTOMER, vars);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
    expect(later.json.data.createCustomer.customer.id).not.toBe(first.json.data.createCustomer.customer.id);
    expect(await customers(m.merchantId)).toBe(2);
    const [row] = await keyRows(m.merchantId);
    expect(row!.expiresAt.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
  });

  it('a malformed key is BAD_USER_INPUT and nothing runs', async () => {
    const m = await newMerchant();
    for (const key of ['x'.repeat(256), '']) {
      const r = await send(m.secretKey, key, CREATE_CUSTOMER, { input: { name: 'Nope' } });
      expect(r.status).toBe(400);
      expect(r.json.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
    expect(await send(m.secretKey, 'x'.repeat(255), CREATE_CUSTOMER, { input: { name: 'Longest key' } }).then((r) => r.status)).toBe(200);
    expect(await customers(m.merchantId)).toBe(1);
  });

  it('a request that ends in INTERNAL_SERVER_ERROR releases its key, so a retry acts', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    const vars = { input: { name: 'After The Fault' } };
    // A fresh merchant whose data keys are switched off cannot seal: the server faults (and caches no failure).
    const keys = { where: { merchantId: m.merchantId } };
    await getDb().prisma.dataKey.updateMany({ ...keys, data: { active: false } });
    const failed = await send(m.secretKey, key, CREATE_CUSTOMER, vars);
    expect(failed.json.errors[0].extensions.code).toBe('INTERNAL_SERVER_ERROR');
    expect(await keyRows(m.merchantId)).toEqual([]);
    await getDb().prisma.dataKey.updateMany({ ...keys, data: { active: true } });
    const retry = await send(m.secretKey, key, CREATE_CUSTOMER, vars);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(retry.json.data.createCustomer.__typename).toBe('CreateCustomerSuccess');
    expect(await customers(m.merchantId)).toBe(1);
  });

  it('an unauthenticated request never reaches the store', async () => {
    const m = await newMerchant();
    const r = await send('sk_test_unknown', randomUUID(), CREATE_CUSTOMER, { input: { name: 'Nobody' } });
    expect(r.status).toBe(401);
    expect(await getDb().prisma.idempotencyKey.count({ where: { merchantId: m.merchantId } })).toBe(0);
  });

  it('the stored response is sealed, not plaintext', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    await send(m.secretKey, key, CREATE_CUSTOMER, { input: { name: 'Secret Sally', email: 'sally@example.com' } });
    const [row] = await keyRows(m.merchantId);
    expect(row).toMatchObject({ status: 'COMPLETED' });
    expect(row!.id).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.id).not.toContain(key);
    expect(row!.response).toMatch(/^v1\./);
    expect(row!.response).not.toContain('Sally');
    expect(row!.response).not.toContain('sally@example.com');
  });
});

describe('idempotency store', () => {
  it('of concurrent begins exactly one executes; the rest replay what it stored', async () => {
    const m = await newMerchant();
    const p = principalOf(m);
    const outcomes = Array.from({ length: 5 }, () => begin(testApp(), p, 'k-concurrent', 'fp'));
    const first = await Promise.race(outcomes);
    expect(first.kind).toBe('execute');
    if (first.kind !== 'execute') return;
    expect(await complete(testApp(), first.claim, { data: { ok: 1 } })).toBe(true);
    const all = await Promise.all(outcomes);
    expect(all.filter((o) => o.kind === 'execute')).toHaveLength(1);
    expect(all.filter((o) => o.kind === 'replay')).toEqual(Array(4).fill({ kind: 'replay', response: { data: { ok: 1 } } }));
  });

  it('an abandoned key executes again', async () => {
    const m = await newMerchant();
    const p = principalOf(m);
    const first = await begin(testApp(), p, 'k-abandon', 'fp');
    if (first.kind !== 'execute') throw new Error(first.kind);
    await abandon(testApp(), first.claim);
    expect(await keyRows(m.merchantId)).toEqual([]);
    expect((await begin(testApp(), p, 'k-abandon', 'fp')).kind).toBe('execute');
  });

  it('a key stuck IN_PROGRESS is taken over once stale, and the old claim can no longer store', async () => {
    const m = await newMerchant();
    const p = principalOf(m);
    const now = new Date();
    const dead = await begin(testApp(), p, 'k-stale', 'fp', now);
    if (dead.kind !== 'execute') throw new Error(dead.kind);
    const takeover = await begin(testApp(), p, 'k-stale', 'fp', new Date(now.getTime() + IDEMPOTENCY_STALE_MS + 1));
    expect(takeover.kind).toBe('execute');
    expect(await complete(testApp(), dead.claim, { data: { late: true } })).toBe(false);
    if (takeover.kind !== 'execute') return;
    expect(await complete(testApp(), takeover.claim, { data: { fresh: true } })).toBe(true);
    expect(await begin(testApp(), p, 'k-stale', 'fp')).toEqual({ kind: 'replay', response: { data: { fresh: true } } });
  });

  it('the sweep deletes expired keys only', async () => {
    const m = await newMerchant();
    const p = principalOf(m);
    const now = new Date();
    for (const key of ['k-old', 'k-new']) {
      const o = await begin(testApp(), p, key, 'fp', key === 'k-old' ? new Date(now.getTime() - 25 * 3600_000) : now);
      if (o.kind === 'execute') await complete(testApp(), o.claim, { data: null });
    }
    expect(await sweepIdempotencyKeys(testApp(), now)).toBeGreaterThanOrEqual(1);
    expect(await keyRows(m.merchantId)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// A reveal answers the full card: it must never be kept for replay, however the document spells it.

const REVEAL_SHAPES: Record<string, { query: string; variables?: Record<string, unknown> }> = {
  'a named fragment': {
    query: `mutation Reveal($id: ID!) { ...R }
      fragment R on Mutation { revealCard(id: $id) { __typename ... on RevealCardSuccess { card { number expMonth expYear } } } }`,
  },
  'an inline fragment on Mutation': {
    query: `mutation Reveal($id: ID!) { ... on Mutation { revealCard(id: $id) { __typename ... on RevealCardSuccess { card { number } } } } }`,
  },
  'nested fragments and an untyped inline fragment': {
    query: `mutation Reveal($id: ID!) { ... { ...Outer } }
      fragment Outer on Mutation { ...Inner }
      fragment Inner on Mutation { revealCard(id: $id) { ... on RevealCardSuccess { card { number } } } }`,
  },
  'an alias': {
    query: `mutation Reveal($id: ID!) { harmless: revealCard(id: $id) { ... on RevealCardSuccess { card { number } } } }`,
  },
  '@include(if: $v)': {
    query: `mutation Reveal($id: ID!, $v: Boolean!) { ... @include(if: $v) { revealCard(id: $id) { ... on RevealCardSuccess { card { number } } } } }`,
    variables: { v: true },
  },
};

/** Every stored response of the merchant, opened (the plaintext as stored). */
async function storedResponses(merchantId: string): Promise<string[]> {
  const rows = await querySql<{ merchantId: string; id: string; response: string | null }>(
    inject('databaseUrl'),
    'SELECT merchant_id AS "merchantId", id, response FROM idempotency_keys WHERE merchant_id = $1',
    [merchantId],
  );
  const opened = await Promise.all(rows.map((row) => openPlaintext(getDb().keyring, 'IdempotencyKey', 'response', row)));
  return opened.filter((r): r is string => r !== null);
}

async function revealEvents(m: TestMerchant, paymentMethodId: string) {
  const events = (await m.client.request(AuditEventsDocument, { entityId: paymentMethodId, first: 50 })).auditEvents.edges.map(
    (e) => e.node,
  );
  return events.filter((e) => e.action === 'payment_method.reveal');
}

async function vaultCard(m: TestMerchant, number: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await send(m.secretKey, undefined, TOKENIZE, { input: { card: { number, expMonth: 3, expYear: EXP_YEAR }, ...extra } });
  return r.json.data.tokenizeCard.paymentMethod.id;
}

describe('Idempotency-Key never replays card data', () => {
  for (const [shape, { query, variables }] of Object.entries(REVEAL_SHAPES)) {
    it(`revealCard through ${shape}, sent three times with one key: three audited reveals, nothing stored`, async () => {
      const m = await newMerchant();
      const number = uniqueVisa();
      const pm = await vaultCard(m, number);
      const revealer = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true });
      const key = randomUUID();
      for (let i = 0; i < 3; i++) {
        const r = await send(revealer.key, key, query, { id: pm, ...variables });
        expect(r.status).toBe(200);
        expect(r.headers.get('idempotent-replayed')).toBeNull();
        expect(JSON.stringify(r.json.data)).toContain(number);
      }
      expect(await revealEvents(m, pm)).toHaveLength(3);
      expect((await storedResponses(m.merchantId)).filter((r) => r.includes(number))).toEqual([]);
      expect(await keyRows(m.merchantId)).toEqual([]);
    });
  }

  it('after deletePaymentMethod, another key with reveal permission replaying the key and document gets no card data', async () => {
    const m = await newMerchant();
    const number = uniqueVisa();
    const pm = await vaultCard(m, number);
    const [a, b] = await Promise.all(
      [1, 2].map(() => createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true })),
    );
    const key = randomUUID();
    const { query } = REVEAL_SHAPES['a named fragment']!;
    const first = await send(a!.key, key, query, { id: pm });
    expect(JSON.stringify(first.json)).toContain(number);
    const deleted = await send(m.secretKey, undefined, 'mutation($id: ID!) { deletePaymentMethod(id: $id) { __typename } }', { id: pm });
    expect(deleted.json.data.deletePaymentMethod.__typename).toBe('DeletePaymentMethodSuccess');
    for (const apiKey of [b!.key, a!.key]) {
      const replay = await send(apiKey, key, query, { id: pm });
      expect(replay.text).not.toContain(number);
      expect(replay.headers.get('idempotent-replayed')).toBeNull();
      expect(replay.json.data.revealCard).toMatchObject({ __typename: 'NotFoundError' });
    }
    expect((await storedResponses(m.merchantId)).filter((r) => r.includes(number))).toEqual([]);
  });

  it('a document with a reveal and another mutation under one key is refused, and nothing acts', async () => {
    const m = await newMerchant();
    const pm = await vaultCard(m, uniqueVisa());
    const revealer = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true });
    const query = `mutation Both($id: ID!) { createCustomer(input: { name: "Mixed" }) { __typename } ...R }
      fragment R on Mutation { revealCard(id: $id) { ... on RevealCardSuccess { card { number } } } }`;
    const r = await send(revealer.key, randomUUID(), query, { id: pm });
    expect(r.status).toBe(400);
    expect(r.json.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(r.json.data).toBeUndefined();
    expect(await customers(m.merchantId)).toBe(0);
    expect(await revealEvents(m, pm)).toHaveLength(0);
    // A reveal skipped by its directive does not count: the rest is idempotent as usual.
    const skipped = `mutation Both($id: ID!, $r: Boolean!) { createCustomer(input: { name: "Mixed" }) { __typename } revealCard(id: $id) @include(if: $r) { __typename } }`;
    const key = randomUUID();
    const once = await send(revealer.key, key, skipped, { id: pm, r: false });
    const twice = await send(revealer.key, key, skipped, { id: pm, r: false });
    expect(once.json.data.createCustomer.__typename).toBe('CreateCustomerSuccess');
    expect(twice.headers.get('idempotent-replayed')).toBe('true');
    expect(await customers(m.merchantId)).toBe(1);
  });

  it('a stored response is bound to the api key that produced it: another key of the same kind gets IDEMPOTENCY_CONFLICT', async () => {
    const m = await newMerchant();
    const other = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST' });
    const key = randomUUID();
    const vars = { input: { name: 'Keyed Kim' } };
    const first = await send(m.secretKey, key, CREATE_CUSTOMER, vars);
    expect(first.json.data.createCustomer.__typename).toBe('CreateCustomerSuccess');
    const second = await send(other.key, key, CREATE_CUSTOMER, vars);
    expect(second.status).toBe(409);
    expect(second.json.errors[0].extensions.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(second.text).not.toContain('Keyed Kim');
    expect(await customers(m.merchantId)).toBe(1);
  });
});

describe('stored responses are destroyed with what they refer to', () => {
  const stored = async (merchantId: string) => (await keyRows(merchantId)).filter((r) => r.status === 'COMPLETED').length;

  it('deletePaymentMethod destroys the stored responses that refer to the payment method', async () => {
    const m = await newMerchant();
    const customer = await send(m.secretKey, undefined, CREATE_CUSTOMER, { input: { name: 'Owner Olga' } });
    const customerId = customer.json.data.createCustomer.customer.id;
    const key = randomUUID();
    const vars = { input: { card: { number: uniqueVisa(), expMonth: 3, expYear: EXP_YEAR }, customerId } };
    const first = await send(m.secretKey, key, TOKENIZE, vars);
    const pm = first.json.data.tokenizeCard.paymentMethod.id;
    // A response that holds the payment method although neither the request nor the response names its id
    // refers to it all the same.
    const listed = await send(
      m.secretKey,
      randomUUID(),
      `mutation($id: ID!) { updateCustomer(id: $id, input: { description: "listed" }) { ... on UpdateCustomerSuccess { customer { paymentMethods { edges { node { card { last4 } } } } } } } }`,
      { id: customerId },
    );
    expect(listed.json.data.updateCustomer.customer.paymentMethods.edges).toHaveLength(1);
    expect(listed.text).not.toContain(pm);
    const unrelated = await send(m.secretKey, randomUUID(), CREATE_CUSTOMER, { input: { name: 'Unrelated' } });
    expect(unrelated.status).toBe(200);
    expect(await stored(m.merchantId)).toBe(3);
    await send(m.secretKey, undefined, 'mutation($id: ID!) { deletePaymentMethod(id: $id) { __typename } }', { id: pm });
    expect(await stored(m.merchantId)).toBe(1);
    // The retry acts again instead of answering with a deleted payment method.
    const retry = await send(m.secretKey, key, TOKENIZE, vars);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(retry.json.data.tokenizeCard.paymentMethod.id).not.toBe(pm);
  });

  it('deleteCustomer destroys the responses about the customer and its payment methods', async () => {
    const m = await newMerchant();
    const created = await send(m.secretKey, randomUUID(), CREATE_CUSTOMER, { input: { name: 'Doomed Dora' } });
    const customerId = created.json.data.createCustomer.customer.id;
    await send(m.secretKey, randomUUID(), TOKENIZE, {
      input: { card: { number: uniqueVisa(), expMonth: 3, expYear: EXP_YEAR }, customerId },
    });
    const keep = await send(m.secretKey, randomUUID(), CREATE_CUSTOMER, { input: { name: 'Staying Stan' } });
    expect(keep.status).toBe(200);
    expect(await stored(m.merchantId)).toBe(3);
    const deleted = await send(
      m.secretKey,
      undefined,
      'mutation($id: ID!) { deleteCustomer(id: $id) { __typename ... on DeleteCustomerSuccess { deletedPaymentMethods } } }',
      { id: customerId },
    );
    expect(deleted.json.data.deleteCustomer.deletedPaymentMethods).toBe(1);
    expect(await stored(m.merchantId)).toBe(1);
    expect((await storedResponses(m.merchantId)).join()).not.toContain('Dora');
  });

  it('the retention purge (sweep, as `vault purge` runs it) destroys the responses of purged payment methods', async () => {
    const m = await newMerchant();
    await send(m.secretKey, randomUUID(), TOKENIZE, { input: { card: { number: uniqueVisa(), expMonth: 3, expYear: EXP_YEAR } } });
    await send(m.secretKey, randomUUID(), TOKENIZE, { input: { card: { number: uniqueVisa(), expMonth: 3, expYear: EXP_YEAR } } });
    const [expired] = await getDb().prisma.paymentMethod.findMany({ where: { merchantId: m.merchantId }, take: 1 });
    await getDb().prisma.paymentMethod.updateMany({
      where: { merchantId: m.merchantId, id: expired!.id },
      data: { retainUntil: new Date(Date.now() - 1000) },
    });
    expect(await stored(m.merchantId)).toBe(2);
    expect((await sweep(testApp())).purgedPaymentMethods).toBeGreaterThanOrEqual(1);
    expect(await stored(m.merchantId)).toBe(1);
    expect((await storedResponses(m.merchantId)).join()).not.toContain(expired!.id);
  });
});

describe('idempotency keys at rest', () => {
  it('the row id and request fingerprint are keyed HMACs, not SHA-256 of the key or the request', async () => {
    const m = await newMerchant();
    const key = randomUUID();
    await send(m.secretKey, key, CREATE_CUSTOMER, { input: { name: 'Hashed Hal' } });
    const [row] = await keyRows(m.merchantId);
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    expect(row!.id).not.toBe(sha(key));
    expect(row!.id).not.toBe(sha(`TEST:${key}`));
    // The same key at another merchant gives an unrelated id: the HMAC key is the merchant's.
    const n = await newMerchant();
    await send(n.secretKey, key, CREATE_CUSTOMER, { input: { name: 'Hashed Hal' } });
    const [other] = await keyRows(n.merchantId);
    expect(other!.id).not.toBe(row!.id);
    expect(other!.requestHash).not.toBe(row!.requestHash);
  });
});
