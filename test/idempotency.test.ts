import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createApiKey } from '../src/domain/apiKeys.js';
import { abandon, begin, complete, IDEMPOTENCY_STALE_MS, sweepIdempotencyKeys } from '../src/domain/idempotency.js';
import type { Principal } from '../src/domain/principal.js';
import { newMerchant, rawGraphQL, uniqueVisa, useDatabase, type TestMerchant } from './helpers/vault.js';

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
  return rawGraphQL({ query, variables }, { 'api-key': apiKey, ...(idempotencyKey !== undefined && { 'idempotency-key': idempotencyKey }) });
}

const customers = (merchantId: string) => getDb().prisma.customer.count({ where: { merchantId } });
const keyRows = (merchantId: string) => getDb().prisma.idempotencyKey.findMany({ where: { merchantId } });

function principalOf(m: TestMerchant): Principal {
  return { merchantId: m.merchantId, mode: 'TEST', keyId: 'key_test', kind: 'SECRET', allowReveal: false };
}

describe('Idempotency-Key', () => {
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
    const vars = { input: { card: { number: uniqueVisa(), expMonth: 3, expYear: 2031 } } };
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
      message: 'Idempotency-Key was already used with a different operation or variables',
      extensions: { code: 'IDEMPOTENCY_CONFLICT' },
    });
    expect(other.json.errors[0].extensions.http).toBeUndefined();
    // A different operation under the same key conflicts too.
    const otherOperation = await send(m.secretKey, key, TOKENIZE, { input: { card: { number: uniqueVisa(), expMonth: 3, expYear: 2031 } } });
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

  it('keys are independent across merchants and across one merchant\'s test and live keys', async () => {
    const a = await newMerchant();
    const b = await newMerchant();
    const live = await createApiKey({ merchantId: a.merchantId, kind: 'SECRET', mode: 'LIVE' });
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
    const vars = { input: { card: { number: '4242424242424242', expMonth: 4, expYear: 2031 } } };
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
    const outcomes = Array.from({ length: 5 }, () => begin(p, 'k-concurrent', 'fp'));
    const first = await Promise.race(outcomes);
    expect(first.kind).toBe('execute');
    if (first.kind !== 'execute') return;
    expect(await complete(first.claim, { data: { ok: 1 } })).toBe(true);
    const all = await Promise.all(outcomes);
    expect(all.filter((o) => o.kind === 'execute')).toHaveLength(1);
    expect(all.filter((o) => o.kind === 'replay')).toEqual(Array(4).fill({ kind: 'replay', response: { data: { ok: 1 } } }));
  });

  it('an abandoned key executes again', async () => {
    const m = await newMerchant();
    const p = principalOf(m);
    const first = await begin(p, 'k-abandon', 'fp');
    if (first.kind !== 'execute') throw new Error(first.kind);
    await abandon(first.claim);
    expect(await keyRows(m.merchantId)).toEqual([]);
    expect((await begin(p, 'k-abandon', 'fp')).kind).toBe('execute');
  });

  it('a key stuck IN_PROGRESS is taken over once stale, and the old claim can no longer store', async () => {
    const m = await newMerchant();
    const p = principalOf(m);
    const now = new Date();
    const dead = await begin(p, 'k-stale', 'fp', now);
    if (dead.kind !== 'execute') throw new Error(dead.kind);
    const takeover = await begin(p, 'k-stale', 'fp', new Date(now.getTime() + IDEMPOTENCY_STALE_MS + 1));
    expect(takeover.kind).toBe('execute');
    expect(await complete(dead.claim, { data: { late: true } })).toBe(false);
    if (takeover.kind !== 'execute') return;
    expect(await complete(takeover.claim, { data: { fresh: true } })).toBe(true);
    expect(await begin(p, 'k-stale', 'fp')).toEqual({ kind: 'replay', response: { data: { fresh: true } } });
  });

  it('the sweep deletes expired keys only', async () => {
    const m = await newMerchant();
    const p = principalOf(m);
    const now = new Date();
    for (const key of ['k-old', 'k-new']) {
      const o = await begin(p, key, 'fp', key === 'k-old' ? new Date(now.getTime() - 25 * 3600_000) : now);
      if (o.kind === 'execute') await complete(o.claim, { data: null });
    }
    expect(await sweepIdempotencyKeys(now)).toBeGreaterThanOrEqual(1);
    expect(await keyRows(m.merchantId)).toHaveLength(1);
  });
});
