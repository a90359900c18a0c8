import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CreateCardTokenDocument,
  CreateCustomerDocument,
  CreatePaymentDocument,
  TokenizeCardDocument,
} from '../../packages/client/src/index.js';
import { forwardHosts } from '../../src/domain/merchants/allowLists.js';
import { clientFor, newMerchant, success, uniqueVisa, useDatabase, type TestMerchant, testApp } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// Hostile input: a corpus of nasty values and property-based (fast-check) inputs, put in every field of the
// mutations' variables. Every answer must be a typed error, a clean GraphQL error or a success; never an
// HTTP 5xx, never INTERNAL_SERVER_ERROR, never a new "unexpected error" in the server log, and a refused
// mutation must leave the merchant's rows exactly as they were.

const getDb = useDatabase();

const CORPUS: Record<string, unknown> = {
  'empty string': '',
  'huge string (200k)': 'x'.repeat(200_000),
  'control characters': 'a\u0000b\u0001c\u001b[31m\u007f\u0085',
  'lone surrogates': '\ud800\udfff\ud800',
  'bidi and zero-width': '\u202eevil\u200b\u2066\ufeff',
  'emoji and combining marks': '👩‍👩‍👧‍👦 Z̤̈́a̠̓l̖͌g̯̊o',
  'SQL-looking': "'; DROP TABLE payment_methods; --",
  'SQL-looking 2': '1 OR 1=1) UNION SELECT card_number FROM payment_methods --',
  'script-looking': '<script>alert(document.cookie)</script>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a hostile value that only looks like a template
  'template-looking': '{{card.number}} ${process.env} %s%n',
  'path-looking': '../../../../etc/passwd',
  'number as string': '4111111111111111',
  'huge integer': 2 ** 53 + 2,
  'negative integer': -1,
  zero: 0,
  fraction: 12.5,
  'float max': 1.7976931348623157e308,
  'negative zero': -0,
  boolean: true,
  null: null,
  'empty object': {},
  'empty list': [],
  'list of strings': ['a', 'b'],
  'nested object': { a: { b: { c: 'd' } } },
  'deep JSON (2k levels)': JSON.parse(`${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`),
  'wide object (5k keys)': Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i])),
  'prototype pollution': JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
};

/** Valid variables for each mutation, with every leaf a place to put something nasty. */
function bases(m: TestMerchant & { customerId: string; paymentMethodId: string; host: string }) {
  const card = {
    number: '4242 4242 4242 4242',
    expMonth: 12,
    expYear: EXP_YEAR,
    cvc: '123',
    holderName: 'Ann',
    nickName: 'n',
    issuer: 'i',
    issuingCountry: 'DE',
    cardType: 'CREDIT',
  };
  const billing = {
    email: 'a@b.example',
    phone: { number: '123', countryCode: '+49' },
    address: { line1: 'l1', city: 'c', zip: '1', country: 'DE', firstName: 'f', lastName: 'l' },
  };
  return [
    {
      name: 'createCustomer',
      query: 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { __typename ... on Error { code message } } }',
      variables: {
        input: {
          merchantReferenceId: 'ref',
          name: 'n',
          email: 'a@b.example',
          phone: '1',
          phoneCountryCode: '+1',
          description: 'd',
          defaultBillingAddress: billing.address,
          metadata: { k: 'v' },
        },
      },
    },
    {
      name: 'tokenizeCard',
      query: 'mutation($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename ... on Error { code message } } }',
      variables: { input: { customerId: m.customerId, card, billing, metadata: { k: 'v' } } },
    },
    {
      name: 'updatePaymentMethod',
      query:
        'mutation($id: ID!, $input: UpdatePaymentMethodInput!) { updatePaymentMethod(id: $id, input: $input) { __typename ... on Error { code message } } }',
      variables: {
        id: m.paymentMethodId,
        input: {
          holderName: 'h',
          nickName: 'n',
          expMonth: 1,
          expYear: EXP_YEAR,
          billing,
          metadata: { k: 1 },
          connectorTokenDetails: { connectorId: 'c', token: 't' },
        },
      },
    },
    {
      name: 'extendRetention',
      query: 'mutation($id: ID!, $months: Int!) { extendRetention(id: $id, months: $months) { __typename ... on Error { code message } } }',
      variables: { id: m.paymentMethodId, months: 1 },
    },
    {
      name: 'createPayment',
      query: 'mutation($input: CreatePaymentInput!) { createPayment(input: $input) { __typename ... on Error { code message } } }',
      variables: {
        input: {
          amount: 100,
          currency: 'EUR',
          card,
          customerId: m.customerId,
          captureMethod: 'MANUAL',
          returnUrl: 'https://shop.example/r',
        },
      },
    },
    {
      name: 'forwardRequest',
      query: 'mutation($input: ForwardRequestInput!) { forwardRequest(input: $input) { __typename ... on Error { code message } } }',
      variables: {
        input: {
          paymentMethodId: m.paymentMethodId,
          url: `http://${m.host}/x`,
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: '{{card.last}}',
        },
      },
    },
  ];
}

/** Every path to a leaf (and to each object) of a value. */
function paths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  return [prefix, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]))].filter((p) => p.length > 0);
}

function replaced(value: unknown, path: string[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  return { ...(value as object), [head!]: replaced((value as Record<string, unknown>)[head!], rest, replacement) };
}

const TABLES = ['customers', 'payment_methods', 'card_tokens', 'payments', 'psp_tokens', 'network_tokens'] as const;

async function rowCounts(merchantId: string): Promise<string> {
  const counts = await Promise.all(
    TABLES.map(
      async (t) =>
        (
          await getDb().prisma.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${t} WHERE merchant_id = $1`, merchantId)
        )[0]!.n,
    ),
  );
  return counts.join(',');
}

const unexpectedErrors = () => (readFileSync(inject('serverLog'), 'utf8').match(/unexpected error/g) ?? []).length;

interface Outcome {
  refused: boolean;
}

/** Sends one request and checks the answer is clean; returns whether the mutation was refused. */
async function send(m: TestMerchant, query: string, variables: unknown, label: string): Promise<Outcome> {
  const res = await fetch(inject('graphqlUrl'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': m.secretKey },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  expect(res.status, `${label}: HTTP ${res.status}`).toBeLessThan(500);
  expect(text, label).not.toContain('INTERNAL_SERVER_ERROR');
  expect(text, `${label}: a card number came back`).not.toMatch(/4242 ?4242 ?4242 ?4242|4111111111111111/);
  if (res.status !== 200) return { refused: true };
  const body = JSON.parse(text) as { data?: Record<string, { __typename: string }> | null; errors?: unknown[] };
  const result = body.data ? Object.values(body.data)[0] : undefined;
  return { refused: body.errors !== undefined || !result || result.__typename.endsWith('Error') };
}

describe('hostile input', () => {
  let m: TestMerchant & { customerId: string; paymentMethodId: string; host: string };
  let tried = 0;

  beforeAll(async () => {
    const merchant = await newMerchant();
    const customer = success(
      (await merchant.client.request(CreateCustomerDocument, { input: { name: 'Target' } })).createCustomer,
      'CreateCustomerSuccess',
    ).customer;
    const pm = success(
      (await merchant.client.request(TokenizeCardDocument, { input: { card: { number: uniqueVisa(), expMonth: 1, expYear: EXP_YEAR } } }))
        .tokenizeCard,
      'TokenizeCardSuccess',
    ).paymentMethod;
    // A host that refuses connections: forwards that pass validation fail cleanly with FORWARD_FAILED.
    await forwardHosts.allow(testApp(), merchant.merchantId, '127.0.0.1:9');
    m = { ...merchant, customerId: customer.id, paymentMethodId: pm.id, host: '127.0.0.1:9' };
  });

  it('answers every corpus value in every field cleanly, and a refused mutation writes nothing', async () => {
    const errorsBefore = unexpectedErrors();
    for (const base of bases(m)) {
      for (const path of paths(base.variables)) {
        for (const [name, value] of Object.entries(CORPUS)) {
          const before = await rowCounts(m.merchantId);
          const { refused } = await send(m, base.query, replaced(base.variables, path, value), `${base.name} ${path.join('.')} = ${name}`);
          tried++;
          if (refused) expect(await rowCounts(m.merchantId), `${base.name} ${path.join('.')} = ${name} wrote something`).toBe(before);
        }
      }
    }
    expect(unexpectedErrors() - errorsBefore).toBe(0);
    console.log(`hostile input: ${tried} corpus requests, no 5xx, no internal error, no partial write`);
  }, 600_000);

  it('holds for arbitrary values generated by fast-check', async () => {
    const errorsBefore = unexpectedErrors();
    const all = bases(m);
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...all),
        fc.nat(),
        fc.oneof(
          fc.jsonValue(),
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.string({ unit: fc.constantFrom('0', '1', '4', ' ', '-', '9'), maxLength: 25 }),
          fc.integer(),
          fc.double(),
          fc.dictionary(fc.string({ maxLength: 50 }), fc.jsonValue(), { maxKeys: 60 }),
        ),
        async (base, pick, value) => {
          const candidates = paths(base.variables);
          const path = candidates[pick % candidates.length]!;
          const before = await rowCounts(m.merchantId);
          const { refused } = await send(
            m,
            base.query,
            replaced(base.variables, path, value),
            `${base.name} ${path.join('.')} (fast-check)`,
          );
          runs++;
          if (refused) expect(await rowCounts(m.merchantId)).toBe(before);
        },
      ),
      { numRuns: Number(process.env.HOSTILE_RUNS ?? 400) },
    );
    expect(unexpectedErrors() - errorsBefore).toBe(0);
    console.log(`hostile input: ${runs} fast-check requests, no 5xx, no internal error, no partial write`);
  }, 600_000);

  it('answers malformed HTTP bodies with 4xx: invalid UTF-8, broken JSON, wrong shapes', async () => {
    const url = inject('graphqlUrl');
    const post = (body: BodyInit, type = 'application/json') =>
      fetch(url, { method: 'POST', headers: { 'content-type': type, 'api-key': m.secretKey }, body });
    const invalidUtf8 = Buffer.concat([
      Buffer.from('{"query":"mutation { createCustomer(input: { name: \\"'),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('\\" }) { __typename } }"}'),
    ]);
    const statuses = await Promise.all(
      [
        post(invalidUtf8),
        post('{"query": '),
        post('[]'),
        post('"just a string"'),
        post('{"query": 42}'),
        post('{"query": "{ __typename }", "variables": "nope"}'),
        post('{"query": "mutation { createCustomer(input: { name: 1 }) { __typename } }"}'),
        post('<xml/>', 'application/xml'),
      ].map(async (r) => (await r).status),
    );
    for (const status of statuses) expect(status).toBeLessThan(500);
    // A card token with a card and a payment with odd amounts, through the typed client too.
    const token = await clientFor(m.publishableKey).request(CreateCardTokenDocument, {
      input: { card: { number: '4242424242424241', expMonth: 13, expYear: 1999, cvc: 'abc' } },
    });
    expect(token.createCardToken.__typename).toBe('ValidationError');
    const pay = await m.client.request(CreatePaymentDocument, {
      input: { amount: 2 ** 31 - 1, currency: 'XXX', paymentMethodId: m.paymentMethodId },
    });
    expect(pay.createPayment.__typename).toBe('ValidationError');
  });
});
