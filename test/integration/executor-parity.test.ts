import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../../src/app/app.js';
import { createCustomer } from '../../src/domain/customers/customers.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import { createVaultYoga } from '../../src/http/yoga.js';
import { createTestApp } from '../helpers/db.js';
import { withLuhn, principalOf } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// VAULT_GRAPHQL_EXECUTOR=jit answers what graphql-js answers: the same status, headers that matter and body,
// byte for byte (errors with their locations, paths and codes; unions; aliases and fragments; directives;
// JSON and DateTime; variables refused in graphql-js's words), and the same number of SQL statements.
let app: App;
const yogas = {} as Record<'graphql-js' | 'jit', ReturnType<typeof createVaultYoga>>;
const statements: string[] = [];
let secretKey: string;
let publishableKey: string;
let pmId: string;
let customerId: string;

beforeAll(async () => {
  app = await createTestApp(inject('databaseUrl'), { db: { poolSize: 4, onQuery: (sql) => statements.push(sql) } });
  yogas['graphql-js'] = createVaultYoga({ app, ready: async () => true, executor: 'graphql-js' });
  yogas.jit = createVaultYoga({ app, ready: async () => true, executor: 'jit' });
  const m = await createMerchant(app, { name: 'executor parity' });
  secretKey = m.secretKey;
  publishableKey = m.publishableKey;
  const principal = principalOf(m);
  for (let c = 0; c < 3; c++) {
    const customer = await createCustomer(app, principal, {
      name: `Customer ${c}`,
      email: `c${c}@example.com`,
      metadata: { tier: c, tag: 'a', ok: true, none: null, ratio: 0.5 },
    });
    customerId ??= customer.id;
    for (let p = 0; p < 2; p++) {
      const r = await tokenizeCard(app, principal, {
        customerId: customer.id,
        card: { number: withLuhn(`5100${c}${p}`.padEnd(15, '3')), expMonth: 7, expYear: EXP_YEAR, holderName: `H${c}${p}` },
      });
      pmId ??= (r as { paymentMethod: { id: string } }).paymentMethod.id;
    }
  }
});
afterAll(async () => {
  await app.stop();
});

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  statements: number;
}

async function ask(executor: keyof typeof yogas, body: unknown, key = secretKey, headers: Record<string, string> = {}): Promise<Answer> {
  statements.length = 0;
  const res = await yogas[executor].fetch('http://vault.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': key, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), text, statements: statements.length };
}

/** Ids, times and request ids a mutation makes differ between two runs; everything else may not. */
const stable = (a: Answer) => ({
  ...a,
  text: a.text
    .replace(/"[a-z]{2,4}_[A-Za-z0-9]{8,}"/g, '"<id>"')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>'),
});

async function same(body: unknown, { key, mutation = false }: { key?: string; mutation?: boolean } = {}): Promise<Answer> {
  // Twice each: the first run of a document compiles it (and warms the data-key caches).
  await ask('graphql-js', body, key);
  await ask('jit', body, key);
  const js = await ask('graphql-js', body, key);
  const jit = await ask('jit', body, key);
  if (mutation) expect(stable(jit)).toEqual(stable(js));
  else expect(jit).toEqual(js);
  return jit;
}

const NESTED = `{ customers(first: 50) { edges { cursor node { id name email metadata createdAt defaultBillingAddress { city }
  paymentMethods(first: 10) { pageInfo { hasNextPage } edges { node { id fingerprint retainUntil card { bin last4 brand expMonth holderName } billing { email } customer { id } } } } } }
  pageInfo { hasNextPage endCursor } } }`;

describe('the compiled executor answers as graphql-js does', () => {
  it('reads: nested lists, the masked read, JSON and DateTime', async () => {
    const nested = await same({ query: NESTED });
    expect(JSON.parse(nested.text).data.customers.edges).toHaveLength(3);
    expect(nested.text).toContain('"metadata":{"ok":true,"tag":"a","none":null,"tier":0,"ratio":0.5}');
    expect(nested.statements).toBeLessThanOrEqual(4);
    const masked = await same({
      query: 'query($id: ID!) { paymentMethod(id: $id) { id card { bin last4 brand expMonth expYear } } }',
      variables: { id: pmId },
    });
    expect(masked.statements).toBe(2);
    await same({
      query: `{ customer(id: "${customerId}") { id createdAt updatedAt metadata paymentMethods(first: 1) { edges { node { id } } } } }`,
    });
    await same({ query: '{ customer(id: "cus_doesnotexist") { id } paymentMethod(id: "nonsense") { id } }' });
  });

  it('aliases, fragments, __typename and directives', async () => {
    await same({
      query: `query Q($id: ID!, $withCard: Boolean!, $skipCustomer: Boolean!) {
        a: paymentMethod(id: $id) { ...PM kind: __typename }
        b: paymentMethod(id: $id) { id __typename card @include(if: $withCard) { last4 } customer @skip(if: $skipCustomer) { id } }
        list: customers(first: 2) { edges { node { ... on Customer { n: name } ...C } } }
      }
      fragment PM on PaymentMethod { id card { l4: last4 brand } customer { ...C } }
      fragment C on Customer { id email }`,
      variables: { id: pmId, withCard: true, skipCustomer: false },
    });
    await same({
      query: 'query($id: ID!, $w: Boolean!) { paymentMethod(id: $id) { id card @include(if: $w) { last4 } } }',
      variables: { id: pmId, w: false },
    });
  });

  it('picks the operation by name in a document with several', async () => {
    const doc = 'query A { customers(first: 1) { edges { node { id } } } } query B($id: ID!) { paymentMethod(id: $id) { id } }';
    const a = await same({ query: doc, operationName: 'A' });
    const b = await same({ query: doc, operationName: 'B', variables: { id: pmId } });
    expect(a.text).toContain('customers');
    expect(b.text).toContain(pmId);
    await same({ query: doc, operationName: 'C' });
    await same({ query: doc });
  });

  it('refuses bad variables in graphql-js words', async () => {
    const create = 'mutation Create($input: CreateCustomerInput!) { createCustomer(input: $input) { __typename } }';
    for (const variables of [{}, { input: null }, { input: { name: 42 } }, { input: { nme: 'x' } }, { input: 'x' }]) {
      const r = await same({ query: create, variables });
      expect(r.status).toBe(400);
    }
    await same({ query: 'query Page($n: Int) { customers(first: $n) { pageInfo { hasNextPage } } }', variables: { n: 'ten' } });
    await same({ query: 'query($id: ID!) { paymentMethod(id: $id) { id } }', variables: { id: 12 } });
    await same({ query: 'query($id: ID!) { paymentMethod(id: $id) { id } }', variables: { id: ['x'] } });
  });

  it('field errors, cursors, scopes and refused documents', async () => {
    await same({ query: '{ customers(first: 2, after: "bm90IGEgY3Vyc29y") { edges { node { id } } } }' });
    await same({ query: '{ customers(first: 1000) { edges { node { id } } } }' });
    await same({ query: '{ auditEvents(first: 5) { edges { node { action at detail entityType } } } }' });
    await same({ query: '{ customers(first: 1) { edges { node { id } } } }' }, { key: publishableKey });
    await same({ query: '{ customers { edges { node { id nme } } } }' });
    await same({ query: `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: customers(first: 1) { edges { node { id } } }`).join(' ')} }` });
    await same({ query: '{ customers(first: 100) { edges { node { paymentMethods(first: 100) { edges { node { id } } } } } } }' });
  });

  it('mutations: the errors plugin unions and their fields', async () => {
    const create = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { __typename
      ... on CreateCustomerSuccess { customer { id name metadata createdAt } }
      ... on ValidationError { code message fields { path code message } }
      ... on Error { code message } } }`;
    await same(
      { query: create, variables: { input: { name: 'Parity', metadata: { a: 1, b: true, c: 'x', d: null } } } },
      { mutation: true },
    );
    await same({ query: create, variables: { input: { email: 'not an email', metadata: { a: { deep: 1 } } } } }, { mutation: true });
    await same(
      { query: 'mutation { deletePaymentMethod(id: "pm_doesnotexist") { __typename ... on Error { code message } } }' },
      { mutation: true },
    );
    await same(
      {
        query: `mutation { extendRetention(id: "${pmId}", months: 99) { __typename ... on Error { code message } ... on RetentionLimitExceededError { maxMonths } } }`,
      },
      { mutation: true },
    );
  });
});
