import { request as httpRequest } from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GRAPHQL_LIMITS } from '../../src/app/config.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { newMerchant, rawGraphQL, useDatabase, type TestMerchant } from '../helpers/vault.js';

// GraphQL and HTTP limits. Each abusive document is refused before execution: the mutation inside it
// leaves nothing behind.

const getDb = useDatabase();

/** `customer { paymentMethods { edges { node { customer { … } } } } }`: any depth, on fields that exist. */
function nested(depth: number): string {
  // Levels: customer(1) paymentMethods(2) edges(3) node(4) customer(5) …; the innermost level is `id`.
  const cycle = ['paymentMethods(first: 1)', 'edges', 'node', 'customer'];
  let body = 'id';
  for (let level = depth - 1; level >= 2; level--) body = `${cycle[(level - 2) % 4]} { ${body} }`;
  return `query { customer(id: "cus_x") { ${body} } }`;
}

async function post(m: TestMerchant, query: string, variables?: unknown) {
  return rawGraphQL({ query, variables }, { 'api-key': m.secretKey });
}

async function customers(m: TestMerchant): Promise<number> {
  return getDb().prisma.customer.count({ where: { merchantId: m.merchantId } });
}

describe('GraphQL limits (graphql-armor)', () => {
  let m: TestMerchant;
  beforeAll(async () => {
    m = await newMerchant();
  });

  it(`refuses documents deeper than ${GRAPHQL_LIMITS.maxDepth} levels`, async () => {
    const ok = await post(m, nested(GRAPHQL_LIMITS.maxDepth));
    expect(ok.json.errors).toBeUndefined();
    const deep = await post(m, nested(GRAPHQL_LIMITS.maxDepth + 1));
    expect(deep.json.errors[0].message).toMatch(/depth/i);
    expect(deep.json.data).toBeUndefined();
  });

  it(`refuses more than ${GRAPHQL_LIMITS.maxAliases} aliases, executing nothing`, async () => {
    const aliases = (n: number) =>
      `mutation { ${Array.from({ length: n }, (_, i) => `c${i}: createCustomer(input: { name: "Alias ${i}" }) { __typename }`).join(' ')} }`;
    const refused = await post(m, aliases(GRAPHQL_LIMITS.maxAliases + 1));
    expect(refused.json.errors[0].message).toMatch(/aliases/i);
    expect(await customers(m)).toBe(0);
    const ok = await post(m, aliases(GRAPHQL_LIMITS.maxAliases));
    expect(ok.json.errors).toBeUndefined();
    expect(await customers(m)).toBe(GRAPHQL_LIMITS.maxAliases);
  });

  it('refuses documents over the cost budget, and serves a large but reasonable nested list', async () => {
    const reasonable = await post(
      m,
      `{ customers(first: 50) { edges { node { id name paymentMethods(first: 10) { edges { node { id card { bin last4 brand expMonth expYear } billing { email } } } } } } } }`,
    );
    expect(reasonable.json.errors).toBeUndefined();
    const everything = await post(
      m,
      `{ customers(first: 100) { edges { node { id paymentMethods(first: 100) { edges { node { id fingerprint card { bin last4 } } } } } } } }`,
    );
    expect(everything.json.errors[0].message).toMatch(/cost/i);
    // Fragments are flattened: a wide selection deep in the tree costs a lot without aliases or depth.
    const wide = Array.from(
      { length: 40 },
      () => 'id fingerprint createdAt updatedAt retainUntil card { bin last4 brand expMonth expYear }',
    ).join(' ');
    const q = `fragment W on PaymentMethod { ${wide} } query { customers(first: 100) { edges { node { paymentMethods(first: 100) { edges { node { ...W customer { paymentMethods(first: 100) { edges { node { ...W } } } } } } } } } } }`;
    const r = await post(m, q);
    expect(r.json.errors[0].message).toMatch(/cost/i);
    expect(r.json.data).toBeUndefined();
  });

  it(`refuses documents of more than ${GRAPHQL_LIMITS.maxTokens} tokens and more than ${GRAPHQL_LIMITS.maxDirectives} directives`, async () => {
    const tokens = await post(m, `query { ${'__typename '.repeat(GRAPHQL_LIMITS.maxTokens)} }`);
    expect(tokens.json.errors[0].message).toMatch(/token/i);
    const directives = await post(m, `query { __typename ${'@include(if: true) '.repeat(GRAPHQL_LIMITS.maxDirectives + 1)} }`);
    expect(directives.json.errors[0].message).toMatch(/directive/i);
  });

  it('serves every operation of the generated client within the limits', async () => {
    const { documents } = await import('../helpers/documents.js');
    for (const [name, document] of documents()) {
      const r = await post(m, document, {});
      const refusals = (r.json.errors ?? []).filter((e: { message: string }) => /limit of \d+ exceeded/i.test(e.message));
      expect(
        refusals.map((e: { message: string }) => e.message),
        name,
      ).toEqual([]);
    }
  });

  it('refuses batches and bodies over 1 MiB (413)', async () => {
    const batch = await rawGraphQL([{ query: '{ __typename }' }, { query: '{ __typename }' }], { 'api-key': m.secretKey });
    expect(batch.status).toBe(400);
    const big = await rawGraphQL(
      { query: '{ __typename }', variables: { pad: 'x'.repeat(GRAPHQL_LIMITS.maxBodyBytes) } },
      { 'api-key': m.secretKey },
    );
    expect(big.status).toBe(413);
  });

  it('counts bodies sent without a Content-Length (chunked): 413 past 1 MiB, and the next request on the kept-alive agent is answered', async () => {
    const post = (parts: string[]) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        let answered = false;
        const req = httpRequest(
          inject('graphqlUrl'),
          { method: 'POST', headers: { 'content-type': 'application/json', 'api-key': m.secretKey } },
          (res) => {
            answered = true;
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        // The server may answer 413 and close before the client has written everything.
        req.on('error', (err) => !answered && reject(err));
        for (const part of parts) req.write(part); // no Content-Length: Node sends it chunked
        req.end();
      });
    const pad = 'x'.repeat(64 * 1024);
    const big = await post(['{"query":"{ __typename }","variables":{"pad":"', ...Array<string>(17).fill(pad), '"}}']);
    expect(big.status).toBe(413);
    // Node's global agent keeps connections alive: without closing the refused one, this request would wait
    // behind the unread rest of the big body until the request timeout.
    const small = await post(['{"query":"{ __typename }",', '"variables":{"pad":"', pad, '"}}']);
    expect(small.status).toBe(200);
    expect(JSON.parse(small.body)).toEqual({ data: { __typename: 'Query' } });
  });

  it('refuses simple (CSRF-able) browser requests that carry no api key header', async () => {
    const url = inject('graphqlUrl');
    const get = await fetch(`${url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'application/json' } });
    expect(get.status).toBe(403);
    const form = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'query=%7B__typename%7D',
    });
    expect([403, 415]).toContain(form.status);
    const withKey = await fetch(`${url}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'api-key': m.secretKey },
    });
    expect(withKey.status).toBe(200);
  });
});

describe('production settings, rate limits and timeouts (a server of their own)', () => {
  let server: { url: string; child: ChildProcess };
  let open: { url: string; child: ChildProcess };
  const env = {
    NODE_ENV: 'production',
    VAULT_RATE_LIMIT: '5',
    VAULT_RATE_LIMIT_WINDOW_SECONDS: '60',
    VAULT_HEADERS_TIMEOUT_MS: '500',
    VAULT_REQUEST_TIMEOUT_MS: '1000',
  };
  beforeAll(async () => {
    [server, open] = await Promise.all([
      startServerProcess(inject('databaseUrl'), inject('serverLog'), env),
      startServerProcess(inject('databaseUrl'), inject('serverLog'), { NODE_ENV: 'production', VAULT_INTROSPECTION: 'true' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server && stopProcess(server.child), open && stopProcess(open.child)]);
  });

  const call = (url: string, key: string, query: string) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'api-key': key }, body: JSON.stringify({ query }) });

  it('turns introspection and field suggestions off in production unless VAULT_INTROSPECTION=true', async () => {
    const m = await newMerchant();
    const intro = await (await call(server.url, m.secretKey, '{ __schema { queryType { name } } }')).json();
    expect(intro.errors[0].message).toMatch(/introspection/i);
    const typo = await (await call(server.url, m.secretKey, '{ custmer(id: "x") { id } }')).json();
    expect(typo.errors[0].message).not.toMatch(/did you mean/i);

    const allowed = await (await call(open.url, m.secretKey, '{ __schema { queryType { name } } }')).json();
    expect(allowed.data.__schema.queryType.name).toBe('Query');
    const suggested = await (await call(open.url, m.secretKey, '{ custmer(id: "x") { id } }')).json();
    expect(suggested.errors[0].message).toMatch(/did you mean/i);
  });

  it('answers 429 with Retry-After once a key spends its budget; other keys are unaffected', async () => {
    const [a, b] = await Promise.all([newMerchant(), newMerchant()]);
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await call(server.url, a.secretKey, '{ __typename }')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const limited = await call(server.url, a.secretKey, 'mutation { createCustomer(input: { name: "Late" }) { __typename } }');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await limited.json()).errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(await getDb().prisma.customer.count({ where: { merchantId: a.merchantId } })).toBe(0);
    expect((await call(server.url, b.secretKey, '{ __typename }')).status).toBe(200);
  });

  it('closes connections whose headers do not arrive in time (slowloris)', async () => {
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    const started = Date.now();
    const answer = await new Promise<string>((resolve) => {
      let data = '';
      socket.on('connect', () => socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\n'));
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('close', () => resolve(data));
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('rate limits shared through Redis', () => {
  it('two instances with REDIS_URL share one budget per key', async () => {
    const env = { REDIS_URL: 'redis://127.0.0.1:6379', VAULT_RATE_LIMIT: '6', VAULT_RATE_LIMIT_WINDOW_SECONDS: '60' };
    const servers = await Promise.all([0, 1].map(() => startServerProcess(inject('databaseUrl'), inject('serverLog'), env)));
    try {
      const m = await newMerchant();
      const statuses = [];
      for (let i = 0; i < 8; i++) {
        const r = await fetch(servers[i % 2]!.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'api-key': m.secretKey },
          body: '{"query":"{ __typename }"}',
        });
        statuses.push(r.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    } finally {
      await Promise.all(servers.map((s) => stopProcess(s.child)));
    }
  });
});
