import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import {
  CreateCustomerDocument,
  createVaultClient,
  documentIdOf,
  PaymentMethodDocument,
  TokenizeCardDocument,
  type VaultClient,
} from '../../packages/client/src/index.js';
import { pushDocuments } from '../../src/cli/commands/documents.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { GRAPHQL_LIMITS } from '../../src/app/config.js';
import { documentIdOf as idOfText, removeDocuments } from '../../src/domain/trustedDocuments/trustedDocuments.js';
import { REMOVAL_DELAY_MS } from '../../src/http/plugins/trustedDocuments.js';
import { createVaultYoga } from '../../src/http/yoga.js';
import { createTestApp, createTestDatabase } from '../helpers/db.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { newMerchant, postGraphQL, rawGraphQL, success, testApp, uniqueVisa, useDatabase, type TestMerchant } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// Trusted documents: the generated client's documents registered by id (`documents push`), called by id
// through the shared server (VAULT_TRUSTED_DOCUMENTS=allow, the default) and a server of its own in
// `require` mode.

const getDb = useDatabase();

const MANIFEST = JSON.parse(readFileSync('packages/client/src/generated/persisted-documents.json', 'utf8')) as Record<string, string>;

/** A client that records every body it sends. */
function recordingClient(url: string, apiKey: string, trustedDocuments: boolean): { client: VaultClient; bodies: any[] } {
  const bodies: any[] = [];
  const recording: typeof fetch = (input, init) => {
    bodies.push(JSON.parse(String(init?.body)));
    return fetch(input, init);
  };
  return { client: createVaultClient({ url, apiKey, fetch: recording, trustedDocuments }), bodies };
}

const card = () => ({ number: uniqueVisa(), expMonth: 12, expYear: EXP_YEAR % 100, holderName: 'Jane Doe' });

/** Registers one document (not from the generated client) after the same checks. */
function pushOne(document: string, id = idOfText(document)) {
  return pushDocuments(testApp(), { [id]: document });
}

async function customers(m: TestMerchant): Promise<number> {
  return getDb().prisma.customer.count({ where: { merchantId: m.merchantId } });
}

beforeAll(async () => {
  const first = await pushDocuments(testApp(), MANIFEST, 'test');
  expect(first.refused).toEqual([]);
  expect(first.total).toBe(Object.keys(MANIFEST).length);
});

describe('registration (documents push)', () => {
  it('stores every generated document once: pushing again adds nothing', async () => {
    const again = await pushDocuments(testApp(), MANIFEST);
    expect(again).toEqual({ total: Object.keys(MANIFEST).length, added: 0, existing: Object.keys(MANIFEST).length, refused: [] });
    const rows = await getDb().prisma.trustedDocument.findMany({ where: { id: { in: Object.keys(MANIFEST) } } });
    expect(rows).toHaveLength(Object.keys(MANIFEST).length);
    expect(rows.find((r) => r.id === documentIdOf(PaymentMethodDocument))?.operationNames).toBe('PaymentMethod');
  });

  it('refuses a tampered document (its id is not its text) and stores nothing of that manifest', async () => {
    const [id, text] = Object.entries(MANIFEST)[0]!;
    const honest = `query Honest${Date.now()} { __typename }`;
    const tampered = { [idOfText(honest)]: honest, [id]: text.replace('last4', 'last4 fingerprint') };
    const result = await pushDocuments(testApp(), tampered);
    expect(result.added).toBe(0);
    expect(result.refused).toEqual([{ id, reason: expect.stringMatching(/not the SHA-256/) }]);
    expect(await getDb().prisma.trustedDocument.count({ where: { id: idOfText(honest) } })).toBe(0);
  });

  it('refuses documents over the GraphQL limits, with introspection, or invalid against the schema', async () => {
    const deep = `query TooDeep { customer(id: "cus_x") { paymentMethods(first: 1) { edges { node { customer { paymentMethods(first: 1) { edges { node { customer { paymentMethods(first: 1) { edges { node { id } } } } } } } } } } } } }`;
    const costly = `query Costly { customers(first: 100) { edges { node { id paymentMethods(first: 100) { edges { node { id fingerprint card { bin last4 } } } } } } } }`;
    const introspection = 'query Schema { __schema { types { name } } }';
    const invalid = 'query Invalid { paymentMethod(id: "pm_x") { number } }';
    const aliases = `query Aliases { ${Array.from({ length: GRAPHQL_LIMITS.maxAliases + 1 }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    const anonymous = '{ __typename }';
    const card =
      'mutation Literal { tokenizeCard(input: { card: { number: "4242 4242 4242 4242", expMonth: 1, expYear: 2031 } }) { __typename } }';
    const iban = 'mutation Iban { createBankAccount(input: { iban: "DE89370400440532013000" }) { __typename } }';
    for (const [doc, reason] of [
      [deep, /depth/i],
      [costly, /cost/i],
      [introspection, /introspection/i],
      [invalid, /Cannot query field "number"/],
      [aliases, /aliases/i],
      [anonymous, /named/],
      [card, /card number or an IBAN: pass card data in variables/],
      [iban, /card number or an IBAN/],
    ] as const) {
      const result = await pushOne(doc);
      expect(result.refused, doc).toEqual([{ id: idOfText(doc), reason: expect.stringMatching(reason) }]);
      expect(await getDb().prisma.trustedDocument.count({ where: { id: idOfText(doc) } })).toBe(0);
    }
    // Nor a label holding one: it is stored and listed in the clear.
    await expect(
      pushDocuments(testApp(), { [idOfText('query L { __typename }')]: 'query L { __typename }' }, 'v 4000 0566 5566 5556'),
    ).rejects.toThrow(/label holds a card number/);
  });
});

describe('calling by id (allow mode)', () => {
  let m: TestMerchant;
  beforeAll(async () => {
    m = await newMerchant();
  });

  it('the generated client sends only the id, and gets the same answers as with the text', async () => {
    const byId = recordingClient(inject('graphqlUrl'), m.secretKey, true);
    const tokenized = success(
      (await byId.client.request(TokenizeCardDocument, { input: { card: card() } })).tokenizeCard,
      'TokenizeCardSuccess',
    );
    const id = tokenized.paymentMethod.id;
    const read = await byId.client.request(PaymentMethodDocument, { id });
    expect(read.paymentMethod?.card?.last4).toBe(tokenized.paymentMethod.card?.last4);
    for (const body of byId.bodies) {
      expect(body.query).toBeUndefined();
      expect(body.documentId).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    expect(byId.bodies.map((b) => b.documentId)).toEqual([documentIdOf(TokenizeCardDocument), documentIdOf(PaymentMethodDocument)]);

    // `allow` keeps documents sent as text working.
    const byText = recordingClient(inject('graphqlUrl'), m.secretKey, false);
    expect(await byText.client.request(PaymentMethodDocument, { id })).toEqual(read);
    expect(typeof byText.bodies[0].query).toBe('string');
    const raw = await rawGraphQL({ query: `{ paymentMethod(id: "${id}") { id } }` }, { 'api-key': m.secretKey });
    expect(raw.json).toEqual({ data: { paymentMethod: { id } } });
  });

  it("also takes Apollo's persisted-query extension and a GET with documentId", async () => {
    const hash = documentIdOf(PaymentMethodDocument)!.slice('sha256:'.length);
    const apq = await rawGraphQL(
      { variables: { id: 'pm_none' }, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } },
      { 'api-key': m.secretKey },
    );
    expect(apq.json).toEqual({ data: { paymentMethod: null } });
    const url = new URL(inject('graphqlUrl'));
    url.searchParams.set('documentId', documentIdOf(PaymentMethodDocument)!);
    url.searchParams.set('variables', JSON.stringify({ id: 'pm_none' }));
    const get = await fetch(url, { headers: { 'api-key': m.secretKey, accept: 'application/json' } });
    expect(await get.json()).toEqual({ data: { paymentMethod: null } });
  });

  it('an unknown id is refused with PERSISTED_DOCUMENT_NOT_FOUND, the text never sent instead', async () => {
    const unknown = `sha256:${'ab'.repeat(32)}`;
    const r = await rawGraphQL({ documentId: unknown, variables: { input: { name: 'Nobody' } } }, { 'api-key': m.secretKey });
    expect(r.status).toBe(400);
    expect(r.json.data).toBeUndefined();
    expect(r.json.errors).toEqual([
      { message: `No trusted document with id "${unknown}"`, extensions: { code: 'PERSISTED_DOCUMENT_NOT_FOUND' } },
    ]);
    const malformed = await rawGraphQL({ documentId: 'CreateCustomer' }, { 'api-key': m.secretKey });
    expect(malformed.json.errors[0].extensions.code).toBe('PERSISTED_DOCUMENT_NOT_FOUND');
    const markup = await rawGraphQL({ documentId: '<script>alert(1)</script>' }, { 'api-key': m.secretKey });
    expect(markup.json.errors[0].message).toBe('No trusted document with the id given');

    // A document the client has that the server does not: the client fails, and sends no text.
    const unregistered = { ...CreateCustomerDocument, __meta__: { hash: unknown } } as typeof CreateCustomerDocument;
    const client = recordingClient(inject('graphqlUrl'), m.secretKey, true);
    await expect(client.client.request(unregistered, { input: { name: 'Nobody' } })).rejects.toThrow(/No trusted document/);
    expect(client.bodies).toEqual([{ documentId: unknown, variables: { input: { name: 'Nobody' } }, operationName: 'CreateCustomer' }]);
    // A document without an id is refused before anything is sent.
    const { __meta__: _meta, ...bare } = CreateCustomerDocument as typeof CreateCustomerDocument & { __meta__?: unknown };
    await expect(client.client.request(bare as typeof CreateCustomerDocument, { input: { name: 'Nobody' } })).rejects.toThrow(/no id/);
    expect(client.bodies).toHaveLength(1);
    expect(await customers(m)).toBe(0);
  });

  it('refuses a request with both a query and a documentId', async () => {
    const r = await rawGraphQL({ query: '{ __typename }', documentId: documentIdOf(PaymentMethodDocument) }, { 'api-key': m.secretKey });
    expect(r.status).toBe(400);
    expect(r.json.errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('still costs page sizes given as variables on every request', async () => {
    const pages = `query Pages${Date.now()}($n: Int) { customers(first: $n) { edges { node { id paymentMethods(first: $n) { edges { node { id fingerprint card { bin last4 } } } } } } } }`;
    expect((await pushOne(pages)).added).toBe(1);
    const small = await rawGraphQL({ documentId: idOfText(pages), variables: { n: 2 } }, { 'api-key': m.secretKey });
    expect(small.json.errors).toBeUndefined();
    const big = await rawGraphQL({ documentId: idOfText(pages), variables: { n: 100 } }, { 'api-key': m.secretKey });
    expect(big.json.errors[0].message).toMatch(/cost/i);
    expect(big.json.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('a stored document that does not pass the limits (written around `documents push`) is refused, not executed', async () => {
    const deep = `mutation Sneaky${Date.now()} { createCustomer(input: { name: "Sneaky" }) { ... on CreateCustomerSuccess { customer { paymentMethods(first: 1) { edges { node { customer { paymentMethods(first: 1) { edges { node { customer { id } } } } } } } } } } } }`;
    await getDb().prisma.trustedDocument.create({ data: { id: idOfText(deep), document: deep, operationNames: 'Sneaky' } });
    const r = await rawGraphQL({ documentId: idOfText(deep) }, { 'api-key': m.secretKey });
    expect(r.status).toBe(400);
    expect(r.json.errors[0]).toMatchObject({
      message: expect.stringMatching(/no longer validates.*depth/i),
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
    expect(await customers(m)).toBe(0);
  });

  it('a stored document holding a card number (registered before the rule) is refused at its call, not executed', async () => {
    // On a database of its own: the card number it plants in the clear must not reach the shared one, whose
    // dump the hygiene scan reads.
    const own = await createTestDatabase();
    const app = await createTestApp(own.url, { migrate: true });
    try {
      const merchant = await createMerchant(app, { name: 'stored literal' });
      const literal =
        'mutation Literal { tokenizeCard(input: { card: { number: "4000056655665556", expMonth: 1, expYear: 2031 } }) { __typename } }';
      await app.db.prisma.trustedDocument.create({ data: { id: idOfText(literal), document: literal, operationNames: 'Literal' } });
      const yoga = createVaultYoga({ app, ready: async () => true });
      const res = await yoga.fetch('http://vault.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': merchant.secretKey },
        body: JSON.stringify({ documentId: idOfText(literal) }),
      });
      const text = await res.text();
      expect(res.status).toBe(400);
      expect(JSON.parse(text).errors[0].message).toMatch(/no longer validates.*card number or an IBAN/);
      expect(text).not.toContain('4000056655665556');
      expect(await app.db.prisma.paymentMethod.count()).toBe(0);
    } finally {
      await app.stop();
      await own.drop();
    }
  });
});

describe('require mode (VAULT_TRUSTED_DOCUMENTS=require)', () => {
  let server: { url: string; child: ChildProcess };
  let m: TestMerchant;
  beforeAll(async () => {
    server = await startServerProcess(inject('databaseUrl'), inject('serverLog'), { VAULT_TRUSTED_DOCUMENTS: 'require' });
    m = await newMerchant();
  });
  afterAll(async () => {
    if (server) await stopProcess(server.child);
  });

  it('refuses documents sent as text with PERSISTED_DOCUMENT_REQUIRED, executing nothing', async () => {
    const r = await postGraphQL(
      server.url,
      { query: 'mutation { createCustomer(input: { name: "Text" }) { __typename } }' },
      { 'api-key': m.secretKey },
    );
    expect(r.status).toBe(400);
    expect(r.json.data).toBeUndefined();
    expect(r.json.errors).toEqual([
      { message: expect.stringMatching(/trusted documents only/), extensions: { code: 'PERSISTED_DOCUMENT_REQUIRED' } },
    ]);
    const client = createVaultClient({ url: server.url, apiKey: m.secretKey });
    await expect(client.request(CreateCustomerDocument, { input: { name: 'Text' } })).rejects.toThrow(
      /PERSISTED_DOCUMENT_REQUIRED|trusted documents only/,
    );
    const nothing = await postGraphQL(server.url, { variables: {} }, { 'api-key': m.secretKey });
    expect(nothing.json.errors[0].extensions.code).toBe('PERSISTED_DOCUMENT_REQUIRED');
    expect(await customers(m)).toBe(0);
  });

  it('runs registered documents by id through the generated client', async () => {
    const client = createVaultClient({ url: server.url, apiKey: m.secretKey, trustedDocuments: true });
    const created = success(
      (await client.request(CreateCustomerDocument, { input: { name: 'By id' } })).createCustomer,
      'CreateCustomerSuccess',
    );
    expect(created.customer.name).toBe('By id');
    expect(await customers(m)).toBe(1);
    const unknown = await postGraphQL(server.url, { documentId: `sha256:${'1'.repeat(64)}` }, { 'api-key': m.secretKey });
    expect(unknown.json.errors[0].extensions.code).toBe('PERSISTED_DOCUMENT_NOT_FOUND');
  });

  it('authenticates before looking a document up', async () => {
    const r = await postGraphQL(
      server.url,
      { documentId: documentIdOf(PaymentMethodDocument), variables: { id: 'pm_x' } },
      { 'api-key': 'sk_test_nope' },
    );
    expect(r.status).toBe(401);
    expect(r.json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('off mode (VAULT_TRUSTED_DOCUMENTS=off)', () => {
  it('takes documents as text only: a documentId is an unexpected parameter', async () => {
    const m = await newMerchant();
    const yoga = createVaultYoga({ app: testApp(), ready: async () => true, trustedDocuments: 'off' });
    const post = async (body: object) => {
      const res = await yoga.fetch('http://vault.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': m.secretKey },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    const byId = await post({ documentId: documentIdOf(PaymentMethodDocument), variables: { id: 'pm_x' } });
    expect(byId.status).toBe(400);
    expect(byId.json.errors[0].extensions.code).toBe('BAD_REQUEST');
    expect((await post({ query: '{ paymentMethod(id: "pm_x") { id } }' })).json).toEqual({ data: { paymentMethod: null } });
  });
});

describe('documents remove', () => {
  it('a removed document stops answering in a running server within REMOVAL_DELAY_MS; pushing it again brings it back', async () => {
    const m = await newMerchant();
    const document = 'query RemovedLater($id: ID!) { paymentMethod(id: $id) { id } }';
    const id = idOfText(document);
    expect((await pushOne(document)).added).toBe(1);
    const yoga = createVaultYoga({ app: testApp(), ready: async () => true, trustedDocuments: 'allow' });
    const call = async () => {
      const res = await yoga.fetch('http://vault.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': m.secretKey },
        body: JSON.stringify({ documentId: id, variables: { id: 'pm_absent' } }),
      });
      return (await res.json()) as any;
    };
    const now = vi.spyOn(Date, 'now');
    try {
      const t0 = Date.now();
      now.mockReturnValue(t0);
      expect(await call()).toEqual({ data: { paymentMethod: null } });
      expect(await removeDocuments(testApp(), { ids: [id] })).toEqual([id]);
      // Cached: still answered just after removal, refused once the delay has passed.
      now.mockReturnValue(t0 + REMOVAL_DELAY_MS - 1);
      expect(await call()).toEqual({ data: { paymentMethod: null } });
      now.mockReturnValue(t0 + REMOVAL_DELAY_MS);
      expect((await call()).errors[0].extensions.code).toBe('PERSISTED_DOCUMENT_NOT_FOUND');
      expect((await pushOne(document)).added).toBe(1);
      expect(await call()).toEqual({ data: { paymentMethod: null } });
    } finally {
      now.mockRestore();
      await removeDocuments(testApp(), { ids: [id] });
    }
  });

  it('removes by label, and refuses what is not an id', async () => {
    const a = 'query LabelledA { customers(first: 1) { edges { cursor } } }';
    const b = 'query LabelledB { customers(first: 2) { edges { cursor } } }';
    const label = `release-${Date.now()}`;
    expect((await pushDocuments(testApp(), { [idOfText(a)]: a, [idOfText(b)]: b }, label)).added).toBe(2);
    expect(await removeDocuments(testApp(), { label })).toEqual([idOfText(a), idOfText(b)].sort());
    expect(await removeDocuments(testApp(), { label })).toEqual([]);
    await expect(removeDocuments(testApp(), { ids: ['CreateCustomer'] })).rejects.toThrow(/"CreateCustomer" is not a document id/);
  });
});
