import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenizeCardDocument } from '../../packages/client/src/generated/graphql.js';
import { pushDocuments } from '../../src/cli/commands/documents.js';
import { documentIdOf } from '../../src/domain/trustedDocuments/trustedDocuments.js';
import { createVaultYoga, type VaultYoga } from '../../src/http/yoga.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { metricAt } from '../helpers/metrics.js';
import { newMerchant, testApp, uniqueVisa, useDatabase, type TestMerchant } from '../helpers/vault.js';

// VAULT_GRAPHQL_FAST_PATH (src/http/fastPath.ts) answers what yoga's HTTP layer answers: the same status,
// content type, body and request id, for what it serves itself and for what it hands over to yoga. Each
// request goes to two servers on one yoga: one through the fast path, one through yoga alone.

useDatabase();

interface Served {
  yoga: VaultYoga;
  fast: string;
  plain: string;
  servers: Server[];
  /** How the last request to `fast` was answered (call it after every request to `fast`). */
  last: () => Promise<'fast' | 'handed over' | 'yoga'>;
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<[Server, string]> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`];
}

async function serve(options: { introspection?: boolean; trustedDocuments?: 'allow' | 'require' } = {}): Promise<Served> {
  const yoga = createVaultYoga({ app: testApp(), ready: async () => true, ...options });
  let taken = false;
  let handedOver = 0;
  const [fastServer, fast] = await listen((req, res) => {
    taken = yoga.fastPath(req, res);
    if (!taken) void yoga(req, res);
  });
  const [plainServer, plain] = await listen((req, res) => void yoga(req, res));
  return {
    yoga,
    fast,
    plain,
    servers: [fastServer, plainServer],
    last: async () => {
      // The fast path counts what it hands over (vault_graphql_fast_path_total): one more since the last look?
      const count = await metricAt(plain, 'vault_graphql_fast_path_total', { outcome: 'handed_over' });
      const before = handedOver;
      handedOver = count;
      return !taken ? 'yoga' : count > before ? 'handed over' : 'fast';
    },
  };
}

let on: Served;
let off: Served;
let m: TestMerchant;
let other: TestMerchant;
let pmId: string;
let otherPmId: string;

const READ = 'query Read($id: ID!) { paymentMethod(id: $id) { id card { bin last4 brand expMonth expYear } } }';
const TOKENIZE = `mutation Tokenize($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename
  ... on TokenizeCardSuccess { duplicate paymentMethod { id card { last4 } } } ... on ValidationError { fields { path code } } } }`;

beforeAll(async () => {
  on = await serve();
  off = await serve({ introspection: false });
  m = await newMerchant();
  other = await newMerchant();
  const tokenize = async (merchant: TestMerchant) => {
    const r = await merchant.client.request(TokenizeCardDocument, {
      input: { card: { number: uniqueVisa(), expMonth: 12, expYear: EXP_YEAR % 100 } },
    });
    return (r.tokenizeCard as { paymentMethod: { id: string } }).paymentMethod.id;
  };
  pmId = await tokenize(m);
  otherPmId = await tokenize(other);
});
afterAll(async () => {
  for (const s of [...on.servers, ...off.servers]) s.close();
});

interface Answer {
  status: number;
  contentType: string | null;
  requestId: string | null;
  text: string;
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers, body });
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    requestId: res.headers.get('x-request-id'),
    text: await res.text(),
  };
}

/** What differs between two runs of one request: fresh ids, request ids, times. */
const stable = (a: Answer) => ({
  ...a,
  requestId: a.requestId === null ? null : /^[0-9a-f-]{36}$/.test(a.requestId) ? '<uuid>' : a.requestId,
  text: a.text.replace(/"pm_[A-Za-z0-9]{8,}"/g, '"<id>"').replace(/"last4":"\d{4}"/g, '"last4":"<last4>"'),
});

/** The request, sent to both servers (twice each: yoga's caches and the compiled executor warm up); the fast path's answer. */
async function same(
  served: Served,
  body: unknown,
  { headers = {}, key = m.secretKey, raw }: { headers?: Record<string, string>; key?: string | null; raw?: string } = {},
): Promise<Answer & { path: Awaited<ReturnType<Served['last']>> }> {
  const h = { 'content-type': 'application/json', ...(key === null ? {} : { 'api-key': key }), ...headers };
  const text = raw ?? JSON.stringify(body);
  await post(served.plain, text, h);
  await post(served.fast, text, h);
  const plain = await post(served.plain, text, h);
  await served.last();
  const fast = await post(served.fast, text, h);
  const path = await served.last();
  expect(stable(fast)).toEqual(stable(plain));
  return { ...fast, path };
}

describe('the fast path answers as yoga does', () => {
  it('serves the masked read itself, and answers it as yoga does', async () => {
    const r = await same(on, { query: READ, variables: { id: pmId } });
    expect(r.path).toBe('fast');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).data.paymentMethod.id).toBe(pmId);
    // Another merchant's card: null, as yoga answers.
    const theirs = await same(on, { query: READ, variables: { id: otherPmId }, operationName: 'Read' });
    expect(theirs.path).toBe('fast');
    expect(JSON.parse(theirs.text)).toEqual({ data: { paymentMethod: null } });
  });

  it('chooses the media type as yoga does, and leaves streams to it', async () => {
    for (const accept of [
      'application/json',
      'application/graphql-response+json',
      'application/graphql-response+json, application/json',
      'application/json;q=0.9, application/graphql-response+json',
      '*/*',
      'application/*',
    ]) {
      const r = await same(on, { query: READ, variables: { id: pmId } }, { headers: { accept } });
      expect(r.path, accept).toBe('fast');
    }
    for (const accept of ['text/event-stream', 'multipart/mixed', 'text/html', 'application/json; charset=latin1']) {
      await same(on, { query: READ, variables: { id: pmId } }, { headers: { accept } });
      expect(await on.last(), accept).toBe('yoga');
    }
  });

  it('serves mutations without an Idempotency-Key; with one, or with an Origin, yoga does', async () => {
    const input = () => ({ card: { number: uniqueVisa(), expMonth: 12, expYear: EXP_YEAR % 100 } });
    const h = { 'content-type': 'application/json', 'api-key': m.secretKey };
    const plain = await post(on.plain, JSON.stringify({ query: TOKENIZE, variables: { input: input() } }), h);
    const fast = await post(on.fast, JSON.stringify({ query: TOKENIZE, variables: { input: input() } }), h);
    expect(await on.last()).toBe('fast');
    expect(stable(fast)).toEqual(stable(plain));
    expect(JSON.parse(fast.text).data.tokenizeCard.__typename).toBe('TokenizeCardSuccess');
    const invalid = await same(on, {
      query: TOKENIZE,
      variables: { input: { card: { number: '4242424242424241', expMonth: 12, expYear: 30 } } },
    });
    expect(invalid.path).toBe('fast');
    expect(JSON.parse(invalid.text).data.tokenizeCard.__typename).toBe('ValidationError');
    await post(on.fast, JSON.stringify({ query: TOKENIZE, variables: { input: input() } }), { ...h, 'idempotency-key': 'k-1' });
    expect(await on.last()).toBe('yoga');
    await same(on, { query: READ, variables: { id: pmId } }, { headers: { origin: 'https://shop.example' } });
    expect(await on.last()).toBe('yoga');
  });

  it('answers bad variables and bad cursors itself, as yoga does', async () => {
    for (const variables of [{}, { id: true }, { id: null }, { id: { a: 1 } }]) {
      const r = await same(on, { query: READ, variables });
      expect(r.path).toBe('fast');
      expect(r.status, r.text).toBe(400);
      expect(JSON.parse(r.text).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
    // Counted once in vault_errors_total on either path (yoga's path once counted a variable error twice).
    for (const url of [on.plain, on.fast]) {
      const before = await metricAt(url, 'vault_errors_total', { code: 'BAD_USER_INPUT' });
      const uncoded = await metricAt(url, 'vault_errors_total', { code: 'GRAPHQL_ERROR' });
      await post(url, JSON.stringify({ query: READ, variables: {} }), { 'content-type': 'application/json', 'api-key': m.secretKey });
      expect(await metricAt(url, 'vault_errors_total', { code: 'BAD_USER_INPUT' }), url).toBe(before + 1);
      expect(await metricAt(url, 'vault_errors_total', { code: 'GRAPHQL_ERROR' }), url).toBe(uncoded);
    }
    const cursor = await same(on, { query: '{ customers(first: 1, after: "bm90IGEgY3Vyc29y") { edges { cursor } } }' });
    expect(cursor.path).toBe('fast');
    expect(JSON.parse(cursor.text).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('hands refused keys, profiles and documents to yoga before executing anything', async () => {
    for (const key of [null, 'sk_test_nope']) {
      const r = await same(on, { query: READ, variables: { id: pmId } }, { key });
      expect(r.path).toBe('handed over');
      expect(r.status).toBe(401);
    }
    const profile = await same(on, { query: READ, variables: { id: pmId } }, { headers: { 'x-profile-id': 'pro_nope' } });
    expect(profile.status).toBe(403);
    expect(profile.path).toBe('handed over');
    for (const query of [
      '{ paymentMethod(id: "x") { nope } }', // validation
      '{ paymentMethod(id: "x") { id ', // syntax
      `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: __typename`).join(' ')} }`, // aliases (graphql-armor)
      'query A { __typename } query B { __typename }', // no operation chosen
      'subscription { __typename }',
    ]) {
      const r = await same(on, { query });
      expect(r.path, query).toBe('handed over');
      expect(r.status, query).toBeGreaterThanOrEqual(400);
    }
    const unknownName = await same(on, { query: READ, operationName: 'Nope', variables: { id: pmId } });
    expect(unknownName.path).toBe('handed over');
  });

  it('refuses a bad key before its body has arrived, as yoga does', async () => {
    // A body announced but not sent: an unknown key must not hold the connection (and up to the body limit
    // of memory) until it comes.
    const url = new URL(on.fast);
    const socket = connect(Number(url.port), url.hostname);
    const answer = new Promise<string>((resolve, reject) => {
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.includes('\r\n\r\n')) resolve(text);
      });
      socket.on('error', reject);
    });
    socket.write(
      'POST /graphql HTTP/1.1\r\nHost: vault.test\r\nContent-Type: application/json\r\napi-key: sk_test_nope\r\nContent-Length: 100000\r\n\r\n{"query":',
    );
    try {
      expect(await answer).toMatch(/^HTTP\/1\.1 401 /);
    } finally {
      socket.destroy();
    }
    expect(await on.last()).toBe('handed over');
  });

  it('hands over bodies that are not plain parameters', async () => {
    for (const [body, raw] of [
      [{ query: READ, variables: { id: pmId }, extensions: {} }],
      [{ query: READ, variables: '{"id":"x"}' }],
      [{ query: READ, documentId: 'sha256:00' }],
      [{ documentId: 'a\u0000b' }],
      [{ documentId: `sha256:${'A'.repeat(64)}` }],
      [{ query: 42 }],
      [{ variables: {} }],
      [[{ query: READ }]],
      [undefined, '{"query": '],
      [undefined, 'null'],
    ] as [unknown, string?][]) {
      const r = await same(on, body, { raw });
      expect(r.path, raw ?? JSON.stringify(body)).toBe('handed over');
    }
  });

  it('runs registered documents by id, and hands unknown ids over', async () => {
    const document = 'query FastPathRead($id: ID!) { paymentMethod(id: $id) { id card { last4 } } }';
    const id = documentIdOf(document);
    await pushDocuments(testApp(), { [id]: document });
    const r = await same(on, { documentId: id, variables: { id: pmId } });
    expect(r.path).toBe('fast');
    expect(JSON.parse(r.text).data.paymentMethod.id).toBe(pmId);
    const unknown = await same(on, { documentId: `sha256:${'0'.repeat(64)}`, variables: { id: pmId } });
    expect(unknown.path).toBe('handed over');
    expect(JSON.parse(unknown.text).errors[0].extensions.code).toBe('PERSISTED_DOCUMENT_NOT_FOUND');
  });

  it('keeps a caller request id, and gives one otherwise', async () => {
    const given = await same(on, { query: READ, variables: { id: pmId } }, { headers: { 'x-request-id': 'order-42' } });
    expect(given.requestId).toBe('order-42');
    const fresh = await same(on, { query: READ, variables: { id: pmId } });
    expect(fresh.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('with introspection off, hands introspection to yoga', async () => {
    const r = await same(off, { query: '{ __schema { types { name } } }' });
    expect(r.path).toBe('handed over');
    expect(r.status).toBe(400);
    const typename = await same(off, { query: READ, variables: { id: pmId } });
    expect(typename.path).toBe('fast');
  });

  it('leaves everything else to yoga', async () => {
    const url = new URL(on.fast);
    for (const [path, init] of [
      ['/graphql?query=%7B__typename%7D', { method: 'GET', headers: { 'api-key': m.secretKey } }],
      ['/graphql', { method: 'POST', headers: { 'content-type': 'application/graphql+json', 'api-key': m.secretKey }, body: '{}' }],
      [
        '/graphql',
        { method: 'POST', headers: { 'content-type': 'Application/JSON', 'api-key': m.secretKey }, body: '{"query":"{ __typename }"}' },
      ],
      ['/healthz', { method: 'GET' }],
    ] as [string, RequestInit][]) {
      await fetch(new URL(path, url), init);
      expect(await on.last(), path).toBe('yoga');
    }
  });
});
