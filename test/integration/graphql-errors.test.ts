import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GRAPHQL_LIMITS } from '../../src/app/config.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { newMerchant, postGraphQL, type RawAnswer, uniqueVisa, useDatabase, type TestMerchant } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// Every error the GraphQL endpoint answers carries `extensions.code`, refusals of a document answer HTTP 400
// whatever the Accept header says, nothing a caller sent is echoed back, and with introspection off nothing
// about the schema is told to a caller before it has authenticated or in any "did you mean" suggestion.

useDatabase();

function codes(a: RawAnswer): unknown[] {
  return (a.json?.errors ?? []).map((e: { extensions?: { code?: unknown } }) => e.extensions?.code);
}

/** Every error has a code, and all of them are `code`. */
function expectCodes(a: RawAnswer, code: string): void {
  expect(a.json?.errors?.length, a.text).toBeGreaterThan(0);
  expect(codes(a), a.text).toEqual(a.json.errors.map(() => code));
}

const CREATE = 'mutation Create($input: CreateCustomerInput!) { createCustomer(input: $input) { __typename } }';

describe('every GraphQL error carries extensions.code', () => {
  let m: TestMerchant;
  beforeAll(async () => {
    m = await newMerchant();
  });
  const call = (body: unknown, headers: Record<string, string> = {}) =>
    postGraphQL(inject('graphqlUrl'), body, { 'api-key': m.secretKey, ...headers });

  it('variable coercion failures answer 400 BAD_USER_INPUT, without echoing the value', async () => {
    const pan = uniqueVisa();
    const cases: [string, unknown][] = [
      ['missing required variable', {}],
      ['null for a required variable', { input: null }],
      ['wrong type in a field', { input: { name: Number(pan) } }],
      ['unknown field', { input: { nme: pan } }],
      ['wrong shape', { input: pan }],
    ];
    for (const [name, variables] of cases) {
      const r = await call({ query: CREATE, variables });
      expect(r.status, name).toBe(400);
      expectCodes(r, 'BAD_USER_INPUT');
      expect(r.text, name).not.toContain(pan);
      expect(r.text, name).not.toContain(pan.slice(0, 12));
    }
    const wrongScalar = await call({
      query: 'query Page($n: Int) { customers(first: $n) { pageInfo { hasNextPage } } }',
      variables: { n: 'ten' },
    });
    expect(wrongScalar.status).toBe(400);
    expectCodes(wrongScalar, 'BAD_USER_INPUT');
  });

  it('document failures answer 400: GRAPHQL_PARSE_FAILED for syntax, GRAPHQL_VALIDATION_FAILED for validation, with either Accept', async () => {
    for (const accept of ['application/json', 'application/graphql-response+json', '*/*']) {
      const syntax = await call({ query: '{ customers { ' }, { accept });
      expect(syntax.status, accept).toBe(400);
      expectCodes(syntax, 'GRAPHQL_PARSE_FAILED');
      const invalid = await call({ query: '{ customers { nope } }' }, { accept });
      expect(invalid.status, accept).toBe(400);
      expectCodes(invalid, 'GRAPHQL_VALIDATION_FAILED');
      const missingArg = await call({ query: '{ customer { id } }' }, { accept });
      expect(missingArg.status, accept).toBe(400);
      expectCodes(missingArg, 'GRAPHQL_VALIDATION_FAILED');
    }
  });

  it('transport failures carry a code and do not echo the body', async () => {
    const pan = uniqueVisa();
    const notJson = await call(`{"query": "{ __typename }", ${pan}`);
    expect(notJson.status).toBe(400);
    expectCodes(notJson, 'BAD_REQUEST');
    expect(notJson.text).not.toContain(pan.slice(0, 12));
    const noQuery = await call({ variables: {} });
    expect(noQuery.status).toBe(400);
    expect(codes(noQuery).every((c) => typeof c === 'string')).toBe(true);
    const twoOps = await call({ query: 'query A { __typename } query B { __typename }' });
    expect(twoOps.status).toBe(400);
    expect(codes(twoOps).every((c) => typeof c === 'string')).toBe(true);
    // No subscriptions in the schema: graphql-js refuses one without a code.
    const subscription = await call({ query: 'subscription { __typename }' });
    expect(subscription.status).toBe(400);
    expectCodes(subscription, 'BAD_REQUEST');
  });

  it('authentication and authorisation failures: 401 UNAUTHENTICATED, FORBIDDEN', async () => {
    const none = await postGraphQL(inject('graphqlUrl'), { query: '{ __typename }' });
    expect(none.status).toBe(401);
    expectCodes(none, 'UNAUTHENTICATED');
    const unknown = await postGraphQL(inject('graphqlUrl'), { query: '{ __typename }' }, { 'api-key': 'sk_test_unknown' });
    expect(unknown.status).toBe(401);
    expectCodes(unknown, 'UNAUTHENTICATED');
    // A simple browser request (a GET a page on another site can make) without a key header: the CSRF check.
    const simple = await fetch(`${inject('graphqlUrl')}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json' },
    });
    expect(simple.status).toBe(403);
    expect(((await simple.json()) as { errors: { extensions: { code: string } }[] }).errors.map((e) => e.extensions.code)).toEqual([
      'FORBIDDEN',
    ]);
    const publishable = await postGraphQL(
      inject('graphqlUrl'),
      { query: '{ customers { pageInfo { hasNextPage } } }' },
      { 'api-key': m.publishableKey },
    );
    expectCodes(publishable, 'FORBIDDEN');
  });
});

describe('GraphQL limit refusals: HTTP 400 with GRAPHQL_VALIDATION_FAILED, whatever the Accept header', () => {
  let m: TestMerchant;
  beforeAll(async () => {
    m = await newMerchant();
  });
  const aliasesOf = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
  const deep = (levels: number) => {
    const cycle = ['paymentMethods(first: 1)', 'edges', 'node', 'customer'];
    let body = 'id';
    for (let level = levels - 1; level >= 2; level--) body = `${cycle[(level - 2) % 4]} { ${body} }`;
    return `query { customer(id: "cus_x") { ${body} } }`;
  };
  const refusals: [string, string, RegExp][] = [
    ['depth', deep(GRAPHQL_LIMITS.maxDepth + 1), /depth/i],
    ['aliases', aliasesOf(GRAPHQL_LIMITS.maxAliases + 1, 'customers { pageInfo { hasNextPage } }'), /aliases/i],
    [
      'cost',
      '{ customers(first: 100) { edges { node { id paymentMethods(first: 100) { edges { node { id fingerprint card { bin last4 } } } } } } } }',
      /cost/i,
    ],
    ['tokens', `query { ${'__typename '.repeat(GRAPHQL_LIMITS.maxTokens)} }`, /token/i],
    ['directives', `query { __typename ${'@include(if: true) '.repeat(GRAPHQL_LIMITS.maxDirectives + 1)} }`, /directive/i],
  ];
  for (const [limit, query, message] of refusals) {
    it(`refuses over the ${limit} limit`, async () => {
      for (const accept of ['application/json', 'application/graphql-response+json']) {
        const r = await postGraphQL(inject('graphqlUrl'), { query }, { 'api-key': m.secretKey, accept });
        expect(r.status, accept).toBe(400);
        expectCodes(r, 'GRAPHQL_VALIDATION_FAILED');
        expect(r.json.errors[0].message).toMatch(message);
        expect(r.json.errors[0].message).not.toMatch(/syntax error/i);
        expect(r.json.data).toBeUndefined();
      }
    });
  }

  it('costs pages sized by variables as it costs literal ones (the generated client pages by variables)', async () => {
    const query = `query Nested($outer: Int, $inner: Int) {
      customers(first: $outer) { edges { node { id paymentMethods(first: $inner) { edges { node { id fingerprint card { bin last4 } } } } } } }
    }`;
    const big = await postGraphQL(inject('graphqlUrl'), { query, variables: { outer: 100, inner: 100 } }, { 'api-key': m.secretKey });
    expect(big.status).toBe(400);
    expectCodes(big, 'GRAPHQL_VALIDATION_FAILED');
    expect(big.json.errors[0].message).toMatch(/cost/i);
    expect(big.json.data).toBeUndefined();
    // The same document with small pages (or none given) runs.
    for (const variables of [{ outer: 10, inner: 10 }, {}]) {
      const small = await postGraphQL(inject('graphqlUrl'), { query, variables }, { 'api-key': m.secretKey });
      expect(small.status, JSON.stringify(variables)).toBe(200);
      expect(small.json.data.customers.edges).toEqual([]);
    }
  });

  it('counts __typename aliases', async () => {
    const within = await postGraphQL(
      inject('graphqlUrl'),
      { query: aliasesOf(GRAPHQL_LIMITS.maxAliases, '__typename') },
      { 'api-key': m.secretKey },
    );
    expect(within.status).toBe(200);
    expect(Object.keys(within.json.data)).toHaveLength(GRAPHQL_LIMITS.maxAliases);
    // Under the token limit, so it is the alias limit that refuses them.
    for (const n of [GRAPHQL_LIMITS.maxAliases + 1, 500]) {
      const r = await postGraphQL(inject('graphqlUrl'), { query: aliasesOf(n, '__typename') }, { 'api-key': m.secretKey });
      expect(r.status, `${n}`).toBe(400);
      expectCodes(r, 'GRAPHQL_VALIDATION_FAILED');
      expect(r.json.errors[0].message).toMatch(new RegExp(`Aliases limit of ${GRAPHQL_LIMITS.maxAliases} exceeded, found ${n}`));
    }
    const thousand = await postGraphQL(inject('graphqlUrl'), { query: aliasesOf(1000, '__typename') }, { 'api-key': m.secretKey });
    expect(thousand.status).toBe(400);
    expectCodes(thousand, 'GRAPHQL_VALIDATION_FAILED');
    expect(thousand.json.data).toBeUndefined();
  });
});

describe('connection cursors are checked: BAD_USER_INPUT, never echoed, never another connection or tenant', () => {
  let m: TestMerchant;
  let other: TestMerchant;
  let cursors: { customer: string; paymentMethod: string; audit: string; otherCustomer: string; otherAudit: string };
  let customerId: string;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  beforeAll(async () => {
    [m, other] = await Promise.all([newMerchant(), newMerchant()]);
    const created = [];
    for (const who of [m, m, other]) {
      const r = await postGraphQL(
        inject('graphqlUrl'),
        { query: CREATE, variables: { input: { name: 'Cursor' } } },
        { 'api-key': who.secretKey },
      );
      expect(r.json.data.createCustomer.__typename).toBe('CreateCustomerSuccess');
      created.push(r);
    }
    const list = await postGraphQL(
      inject('graphqlUrl'),
      { query: '{ customers { edges { cursor node { id } } } auditEvents { edges { cursor } } }' },
      { 'api-key': m.secretKey },
    );
    customerId = list.json.data.customers.edges[0].node.id;
    const tokenize = await postGraphQL(
      inject('graphqlUrl'),
      {
        query: 'mutation T($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename } }',
        variables: { input: { customerId, card: { number: uniqueVisa(), expMonth: 12, expYear: EXP_YEAR } } },
      },
      { 'api-key': m.secretKey },
    );
    expect(tokenize.json.data?.tokenizeCard.__typename, tokenize.text).toBe('TokenizeCardSuccess');
    const pms = await postGraphQL(
      inject('graphqlUrl'),
      { query: `{ customer(id: "${customerId}") { paymentMethods { edges { cursor } } } }` },
      { 'api-key': m.secretKey },
    );
    const theirs = await postGraphQL(
      inject('graphqlUrl'),
      { query: '{ customers { edges { cursor } } auditEvents { edges { cursor } } }' },
      { 'api-key': other.secretKey },
    );
    cursors = {
      customer: list.json.data.customers.edges[0].cursor,
      audit: list.json.data.auditEvents.edges[0].cursor,
      paymentMethod: pms.json.data.customer.paymentMethods.edges[0].cursor,
      otherCustomer: theirs.json.data.customers.edges[0].cursor,
      otherAudit: theirs.json.data.auditEvents.edges[0].cursor,
    };
  });

  const connections: { name: string; own: keyof typeof cursors; query: (arg: string) => string; wrong: (keyof typeof cursors)[] }[] = [
    {
      name: 'customers',
      own: 'customer',
      query: (a) => `{ customers(${a}) { edges { node { id } } } }`,
      wrong: ['paymentMethod', 'audit', 'otherCustomer'],
    },
    {
      name: 'auditEvents',
      own: 'audit',
      query: (a) => `{ auditEvents(${a}) { edges { node { id } } } }`,
      wrong: ['customer', 'paymentMethod', 'otherAudit'],
    },
    {
      name: 'customer.paymentMethods',
      own: 'paymentMethod',
      query: (a) => `query { customer(id: "CUSTOMER") { paymentMethods(${a}) { edges { node { id } } } } }`,
      wrong: ['customer', 'audit', 'otherCustomer'],
    },
  ];
  const forged = () => {
    const pan = uniqueVisa();
    return {
      pan,
      values: [
        'garbage',
        `not base64 ${pan}`,
        b64(pan),
        b64(`GPC:S:${pan}`),
        b64('{"merchantId":"x","id":"y"}'),
        b64('GPC:T:["N:5","S:x"]'),
        b64('GPC:T:[1,2]'),
        b64(`GPC:T:["S:mer_x","S:cus_x","S:${pan}"]`),
        b64('GPC:J:{"a":1}'),
        b64(`GPC:T:["S:${m.merchantId}","D:1"]`),
        b64(`GPC:T:["S:${m.merchantId}","S:cus_${pan}"]`),
        b64(`GPC:T:["S:${m.merchantId}","O:{\\"in\\":[1]}"]`),
        '',
      ],
    };
  };

  for (const c of connections) {
    it(`${c.name}: a cursor of its own pages; anything else is BAD_USER_INPUT`, async () => {
      const q = (arg: string) => c.query(arg).replace('CUSTOMER', customerId);
      const ask = (cursor: string, arg = 'after') =>
        postGraphQL(inject('graphqlUrl'), { query: q(`${arg}: ${JSON.stringify(cursor)}`) }, { 'api-key': m.secretKey });
      const own = await ask(cursors[c.own]);
      expect(own.json.errors, own.text).toBeUndefined();
      const { pan, values } = forged();
      const bad = [...c.wrong.map((w) => cursors[w]), ...values];
      for (const cursor of bad) {
        for (const arg of ['after', 'before']) {
          const r = await ask(cursor, arg);
          expect(codes(r), `${arg}: ${cursor} -> ${r.text}`).toEqual(['BAD_USER_INPUT']);
          expect(r.json.errors[0].message).toMatch(/cursor/i);
          if (cursor) expect(r.text).not.toContain(cursor);
          expect(r.text).not.toContain(pan.slice(0, 12));
        }
      }
    });
  }
});

describe('production without introspection: authentication first, no suggestions', () => {
  let server: { url: string; child: ChildProcess };
  let m: TestMerchant;
  beforeAll(async () => {
    [server, m] = await Promise.all([
      startServerProcess(inject('databaseUrl'), inject('serverLog'), { NODE_ENV: 'production' }),
      newMerchant(),
    ]);
  });
  afterAll(async () => {
    if (server) await stopProcess(server.child);
  });
  const schemaProbes = [
    '{ custmer(id: "x") { id } }',
    '{ customers(frist: 1) { pageInfo { hasNextPage } } }',
    'mutation { tokenizeBankAccount(input: { bankAccount: { scheme: SEP, holderName: "x" } }) { __typename } }',
    'query Q($i: CreateCustomerInpt!) { __typename }',
    '{ customers { ',
    '{ __schema { types { name } } }',
  ];

  it('answers 401 UNAUTHENTICATED to a document from a caller without a valid key, before parsing or validating it', async () => {
    const callers: Record<string, string>[] = [{}, { 'api-key': 'sk_live_unknown' }, { authorization: 'Bearer nope' }];
    for (const headers of callers) {
      for (const query of schemaProbes) {
        const r = await postGraphQL(server.url, { query }, headers);
        expect(r.status, query).toBe(401);
        expectCodes(r, 'UNAUTHENTICATED');
        expect(r.text).not.toMatch(/did you mean|custom|Query|Scheme|SEPA|Syntax/i);
      }
    }
  });

  it('tells an authenticated caller no suggestion of a field, argument, enum value, type or input field', async () => {
    // Each probe, and the suggestion graphql-js would make for it.
    const probes: [string, unknown, RegExp][] = [
      ['{ custmer(id: "x") { id } }', undefined, /"customers?"/],
      ['{ customers(frist: 1) { pageInfo { hasNextPage } } }', undefined, /"first"/],
      ['mutation { tokenizeBankAccount(input: { bankAccount: { scheme: SEP, holderName: "x" } }) { __typename } }', undefined, /SEPA/],
      ['query Q($i: CreateCustomerInpt!) { __typename }', undefined, /CreateCustomerInput/],
      ['{ customers { edges { node { paymentMethods { edges { node { card { brnd } } } } } } } }', undefined, /"brand"/],
      ['mutation C($input: CreateCustomerInput!) { createCustomer(input: $input) { __typename } }', { input: { nme: 'x' } }, /"name"/],
      [
        'mutation B($input: TokenizeBankAccountInput!) { tokenizeBankAccount(input: $input) { __typename } }',
        { input: { bankAccount: { scheme: 'SEP', holderName: 'x' } } },
        /SEPA/,
      ],
      ['{ __schema { types { name } } }', undefined, /"Query"/],
    ];
    for (const [query, variables, suggestion] of probes) {
      const r = await postGraphQL(server.url, { query, variables }, { 'api-key': m.secretKey });
      expect(r.status, query).toBe(400);
      expect(r.json.errors.length).toBeGreaterThan(0);
      for (const e of r.json.errors) expect(typeof e.extensions?.code, r.text).toBe('string');
      expect(r.text, query).not.toMatch(/did you mean|suggestion/i);
      expect(r.text, query).not.toMatch(suggestion);
    }
  });
});
