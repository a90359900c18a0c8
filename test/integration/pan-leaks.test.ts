import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  AuditEventsDocument,
  CreateCardTokenDocument,
  ForwardRequestDocument,
  type ForwardRequestInput,
} from '../../packages/client/src/index.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { forwardHosts } from '../../src/domain/merchants/allowLists.js';
import {
  clientFor,
  newMerchant,
  rawGraphQL,
  success,
  uniqueVisa,
  useDatabase,
  withLuhn,
  type TestMerchant,
  testApp,
} from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// Card numbers sent where no card number belongs (ids, cursors, paths, request ids) and echoed back by an
// upstream in disguise: none may reach the server log, the audit table or a forwarded answer.

const getDb = useDatabase();

const serverLog = () => readFileSync(inject('serverLog'), 'utf8');
const flushed = () => new Promise((r) => setTimeout(r, 300));

/** A Mastercard number unique to this run: never used elsewhere, so finding it anywhere is this test's leak. */
function uniqueMastercard(): string {
  return withLuhn(`5${String(Date.now()).slice(-8)}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`);
}

/** Whether text holds the number: as written, or its 12+ digit stretches (what a partial mask would leave). */
function holds(text: string, number: string): boolean {
  const digits = text.replace(/[^0-9]/g, ' ');
  for (let i = 0; i + 12 <= number.length; i++) if (digits.includes(number.slice(i, i + 12))) return true;
  return false;
}

const tokenize = (m: TestMerchant, requestId: string) =>
  rawGraphQL(
    {
      query: 'mutation($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename } }',
      variables: { input: { card: { number: uniqueVisa(), expMonth: 4, expYear: EXP_YEAR } } },
    },
    { 'api-key': m.secretKey, 'x-request-id': requestId },
  );

async function auditRowsHolding(merchantId: string, number: string) {
  return getDb().prisma.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM audit_events
     WHERE merchant_id = ${merchantId} AND (entity_id LIKE ${`%${number}%`} OR request_id LIKE ${`%${number}%`} OR detail::text LIKE ${`%${number}%`})`;
}

describe('card numbers where ids, cursors and paths belong', () => {
  it('an invalid cursor holding a card number is not logged in the clear', async () => {
    const m = await newMerchant();
    const number = uniqueMastercard();
    const r = await rawGraphQL(
      { query: `{ customers(first: 2, after: "${number}") { edges { node { id } } } }` },
      { 'api-key': m.secretKey },
    );
    expect(r.json.errors?.length).toBeGreaterThan(0);
    expect(holds(r.text, number)).toBe(false);
    await flushed();
    expect(holds(serverLog(), number)).toBe(false);
  });

  it('a forged base64 cursor holding card numbers is not logged in the clear', async () => {
    const m = await newMerchant();
    const number = uniqueMastercard();
    for (const forged of [
      `GPC:J:{"merchantId":${number},"id":${number}}`,
      `GPC:J:{"merchantId":"${m.merchantId}","id":"pm_${number}"}`,
      `GPC:J:{"merchantId":"${number}","id":{"gt":"${number}"}}`,
      `GPC:S:${number}`,
    ]) {
      const after = Buffer.from(forged).toString('base64');
      const r = await rawGraphQL(
        { query: `{ customers(first: 2, after: "${after}") { edges { node { id } } } }` },
        { 'api-key': m.secretKey },
      );
      expect(holds(r.text, number)).toBe(false);
    }
    await flushed();
    expect(holds(serverLog(), number)).toBe(false);
  });

  it('an unauthenticated challenge path with a card number is answered 404 and not logged in the clear', async () => {
    const number = uniqueMastercard();
    const origin = new URL(inject('graphqlUrl')).origin;
    for (const path of [`/sandbox/challenge/pay_${number}`, `/sandbox/challenge/pay_x${number}y`, `/sandbox/challenge/${number}`]) {
      const res = await fetch(`${origin}${path}`);
      expect(res.status).toBe(404);
      await res.text();
    }
    await flushed();
    expect(holds(serverLog(), number)).toBe(false);
  });

  it('an x-request-id of card digits is replaced before it is logged, audited or returned', async () => {
    const m = await newMerchant();
    const number = uniqueMastercard();
    const groups = number.match(/\d{4}/g)!;
    for (const requestId of [
      number,
      `req_${number}`,
      `${number.slice(0, 8)}.${number.slice(8)}`,
      groups.join('____'),
      groups.join('-'),
      `req-${groups.join('--')}`,
    ]) {
      const r = await tokenize(m, requestId);
      expect(r.json.data.tokenizeCard.__typename).toBe('TokenizeCardSuccess');
      expect(holds((r.headers.get('x-request-id') ?? '').replace(/[^0-9]/g, ''), number), requestId).toBe(false);
    }
    const events = (await m.client.request(AuditEventsDocument, { first: 50 })).auditEvents.edges.map((e) => e.node);
    expect(events.length).toBeGreaterThanOrEqual(6);
    for (const e of events) expect(holds(e.requestId.replace(/[^0-9]/g, ''), number)).toBe(false);
    expect((await auditRowsHolding(m.merchantId, number))[0]!.n).toBe(0n);
    await flushed();
    expect(holds(serverLog(), number)).toBe(false);

    // An ordinary request id (letters, digits, hyphens) is kept as given; anything else is replaced.
    const kept = await tokenize(m, 'order-42-attempt-1');
    expect(kept.headers.get('x-request-id')).toBe('order-42-attempt-1');
    for (const odd of ['order-42.attempt_1', 'a b', 'x'.repeat(65)]) {
      const replaced = await tokenize(m, odd);
      expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('revealCard and forwardRequest with a card number as id answer NOT_FOUND and audit nothing of it', async () => {
    const m = await newMerchant();
    const number = uniqueMastercard();
    const revealer = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true });
    for (const [key, id] of [
      [m.secretKey, number],
      [revealer.key, number],
      [revealer.key, `pm_${number}`],
      [revealer.key, `pm_${number}000000`], // 22 characters after pm_, but a card number inside
    ] as const) {
      const r = await rawGraphQL(
        { query: 'mutation($id: ID!) { revealCard(id: $id) { __typename ... on Error { code message } } }', variables: { id } },
        { 'api-key': key },
      );
      expect(r.json.data.revealCard).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
      expect(holds(r.text, number)).toBe(false);
    }
    for (const input of [
      { paymentMethodId: number, url: 'https://example.com/x', method: 'POST', body: '{{card.number}}' },
      { token: `tok_${number}`, url: 'https://example.com/x', method: 'POST', body: '{{card.number}}' },
      { token: `tok_x${number}`, url: `https://${number}.example.com/x`, method: 'POST', body: '{{card.number}}' },
    ]) {
      const r = await rawGraphQL(
        {
          query: 'mutation($input: ForwardRequestInput!) { forwardRequest(input: $input) { __typename ... on Error { code } } }',
          variables: { input },
        },
        { 'api-key': m.secretKey },
      );
      // Refused as input holding a card number, or not found: either way before any audit.
      expect(['NotFoundError', 'ValidationError']).toContain(r.json.data.forwardRequest.__typename);
    }
    expect((await auditRowsHolding(m.merchantId, number))[0]!.n).toBe(0n);
    // A well-formed unknown id is still audited as a failed reveal.
    const unknown = `pm_${'A'.repeat(22)}`;
    await rawGraphQL(
      { query: 'mutation($id: ID!) { revealCard(id: $id) { __typename } }', variables: { id: unknown } },
      { 'api-key': revealer.key },
    );
    const failed = (await m.client.request(AuditEventsDocument, { entityId: unknown, first: 5 })).auditEvents.edges.map((e) => e.node);
    expect(failed).toMatchObject([{ action: 'payment_method.reveal', outcome: 'failed' }]);
    await flushed();
    expect(holds(serverLog(), number)).toBe(false);
  });
});

describe('IBANs where ids, request ids, names and metadata belong', () => {
  const IBAN = 'GB29NWBK60161331926819';
  const spaced = IBAN.match(/.{1,4}/g)!.join(' ');
  const holdsIban = (text: string) => text.includes(IBAN) || text.includes(spaced) || text.includes('NWBK60161331926819');

  it('an x-request-id holding an IBAN is replaced; an IBAN as an id is answered NOT_FOUND masked, and audited nowhere', async () => {
    const m = await newMerchant();
    const r = await tokenize(m, IBAN);
    expect(r.json.data.tokenizeCard.__typename).toBe('TokenizeCardSuccess');
    expect(r.headers.get('x-request-id')).not.toBe(IBAN);
    const revealer = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true });
    for (const id of [IBAN, `pm_${IBAN}`]) {
      const reveal = await rawGraphQL(
        { query: 'mutation($id: ID!) { revealCard(id: $id) { __typename ... on Error { code message } } }', variables: { id } },
        { 'api-key': revealer.key },
      );
      expect(reveal.json.data.revealCard).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
      expect(holdsIban(reveal.text)).toBe(false);
      const del = await rawGraphQL(
        { query: 'mutation($id: ID!) { deletePaymentMethod(id: $id) { __typename ... on Error { code message } } }', variables: { id } },
        { 'api-key': m.secretKey },
      );
      expect(del.json.data.deletePaymentMethod).toMatchObject({ __typename: 'NotFoundError' });
      expect(holdsIban(del.text)).toBe(false);
    }
    const audit = await getDb().prisma.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM audit_events WHERE merchant_id = ${m.merchantId}
        AND (entity_id LIKE ${'%NWBK6016%'} OR request_id LIKE ${'%NWBK6016%'} OR detail::text LIKE ${'%NWBK6016%'})`;
    expect(audit[0]!.n).toBe(0n);
    await flushed();
    expect(holdsIban(serverLog())).toBe(false);
  });

  it('refuses an IBAN in text fields and metadata, which are not where account numbers are encrypted', async () => {
    const m = await newMerchant();
    const r = await rawGraphQL(
      {
        query:
          'mutation($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename ... on ValidationError { fields { path message } } } }',
        variables: {
          input: {
            card: { number: uniqueVisa(), expMonth: 4, expYear: EXP_YEAR, holderName: `IBAN ${spaced}` },
            metadata: { payout: IBAN, [IBAN]: 'x' },
          },
        },
      },
      { 'api-key': m.secretKey },
    );
    expect(r.json.data.tokenizeCard.__typename).toBe('ValidationError');
    expect(r.json.data.tokenizeCard.fields.map((f: { path: string[] }) => f.path.join('.')).sort()).toEqual(
      ['input.card.holderName', 'input.metadata', 'input.metadata.payout'].sort(),
    );
    expect(holdsIban(r.text)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------
// An upstream that echoes what it was sent in disguise.

describe('forwardRequest answers that echo card data in disguise', () => {
  let server: Server;
  let origin: string;
  let host: string;
  let reply: (body: string, res: ServerResponse) => void = (_b, res) => res.end('{}');
  const received: string[] = [];
  let m: TestMerchant;

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      received.push(JSON.stringify(req.headers));
      reply(body, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    origin = `http://127.0.0.1:${port}`;
    host = `127.0.0.1:${port}`;
    m = await newMerchant();
    await forwardHosts.allow(testApp(), m.merchantId, host);
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  async function token(number: string, extra: Record<string, unknown> = {}) {
    const t = await clientFor(m.publishableKey).request(CreateCardTokenDocument, {
      input: { card: { number, expMonth: 3, expYear: EXP_YEAR, cvc: '739', ...extra } },
    });
    return success(t.createCardToken, 'CreateCardTokenSuccess').token.id;
  }

  const forward = async (input: Partial<ForwardRequestInput>) =>
    (
      await m.client.request(ForwardRequestDocument, {
        input: { url: `${origin}/v1/charges`, method: 'POST', ...input } as ForwardRequestInput,
      })
    ).forwardRequest;

  it('masks the CVC echoed in an innocuous field and the number echoed as UTF-16 and base64', async () => {
    const number = uniqueMastercard();
    reply = (body, res) => {
      const sent = JSON.parse(body) as { n: string; c: string };
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-16le' }).end(
        Buffer.from(
          JSON.stringify({
            reference: sent.c,
            note: `ok ${sent.c}`,
            b64: Buffer.from(`card=${sent.n}`).toString('base64'),
            hex: Buffer.from(sent.n).toString('hex'),
            raw: sent.n,
          }),
          'utf16le',
        ),
      );
    };
    const r = success(
      await forward({
        token: await token(number),
        headers: { 'content-type': 'application/json' },
        body: '{"n":"{{card.number}}","c":"{{card.cvc}}"}',
      }),
      'ForwardRequestSuccess',
    );
    const body = JSON.parse(r.body) as Record<string, string>;
    expect(body.reference).toBe('***');
    expect(body.note).toBe('ok ***');
    expect(body.raw).toBe(`${number.slice(0, 6)}******${number.slice(-4)}`);
    expect(Buffer.from(body.b64!.replace(/\*/g, 'A'), 'base64').toString('latin1')).not.toContain(number.slice(3, 15));
    expect(holds(body.hex!, Buffer.from(number).toString('hex'))).toBe(false);
    expect(r.body).not.toContain('739');
    expect(holds(r.body, number)).toBe(false);

    // Undeclared UTF-16 (read as UTF-8, NULs between the digits) and a JSON-escaped echo.
    reply = (body, res) => {
      const sent = JSON.parse(body) as { n: string };
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(
          Buffer.concat([
            Buffer.from('pan='),
            Buffer.from(sent.n, 'utf16le'),
            Buffer.from(` esc=${[...sent.n].map((d) => `\\u00${d.charCodeAt(0).toString(16)}`).join('')}`),
          ]),
        );
    };
    const number2 = uniqueMastercard();
    const r2 = success(
      await forward({ token: await token(number2), headers: { 'content-type': 'application/json' }, body: '{"n":"{{card.number}}"}' }),
      'ForwardRequestSuccess',
    );
    expect(holds(r2.body, number2)).toBe(false);
    expect(r2.body).not.toContain('\\u0035');
  });

  it('masks the number echoed reformatted: commas, line breaks, runs of separators, digits of other scripts, a JSON array of digits, digits among letters', async () => {
    const number = uniqueMastercard();
    const groups = (sep: string) => number.match(/\d{4}/g)!.join(sep);
    const arabicIndic = [...number].map((d) => String.fromCharCode(0x660 + Number(d))).join('');
    reply = (body, res) => {
      const sent = JSON.parse(body) as { n: string };
      expect(sent.n).toBe(number);
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          commas: groups(','),
          lines: groups('\n'),
          crlf: groups('\r\n'),
          underscores: groups('____'),
          zwsp: groups('\u200b'),
          parens: `(${groups(') (')})`,
          arabic: arabicIndic,
          digits: [...number].map(Number),
          letters: [...number].join('a'),
        }),
      );
    };
    const r = success(
      await forward({ token: await token(number), headers: { 'content-type': 'application/json' }, body: '{"n":"{{card.number}}"}' }),
      'ForwardRequestSuccess',
    );
    expect(holds(r.body, number)).toBe(false);
    expect(holds(r.body.replace(/[^0-9]/g, ''), number)).toBe(false);
    // Each stretch is shown as a number is (first six, last four); the array of digits becomes one such
    // JSON value too, so the reply is no longer JSON there (as for a number written as a JSON number).
    const truncated = `${number.slice(0, 6)}******${number.slice(-4)}`;
    for (const field of ['commas', 'lines', 'crlf', 'underscores', 'zwsp', 'arabic', 'letters']) {
      expect(r.body, field).toContain(`"${field}":"${truncated}"`);
    }
    expect(r.body).toContain(`"parens":"(${truncated})"`);
    expect(r.body).toContain(`"digits":[${truncated}]`);
  });

  it('masks the CVC echoed next to other digits, and refuses a template that glues it to digits before spending the token', async () => {
    const number = uniqueMastercard();
    reply = (body, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`echo ${body}`);
    const r = success(
      await forward({
        token: await token(number),
        headers: { 'content-type': 'text/plain' },
        body: 'x{{card.cvc}}/{{card.expMonth}} {{card.cvc}}-{{card.expYear}}',
      }),
      'ForwardRequestSuccess',
    );
    expect(r.body).toBe(`echo x***/03 ***-${EXP_YEAR}`);

    for (const body of [
      '{{card.cvc}}{{card.expMonth}}',
      '{{card.expYear}}{{card.cvc}}',
      'ref 4{{card.cvc}}',
      '{"c":"{{card.cvc}}\\u0031"}',
      'c=%31{{card.cvc}}',
    ]) {
      const tok = await token(number);
      const before = received.length;
      const refused = await rawGraphQL(
        {
          query:
            'mutation($input: ForwardRequestInput!) { forwardRequest(input: $input) { __typename ... on ValidationError { fields { path code } } } }',
          variables: { input: { token: tok, url: `${origin}/v1/charges`, method: 'POST', body } },
        },
        { 'api-key': m.secretKey },
      );
      expect(refused.json.data.forwardRequest, body).toMatchObject({
        __typename: 'ValidationError',
        fields: [{ path: ['input', 'body'], code: 'INVALID_INPUT' }],
      });
      expect(received.length).toBe(before);
      const row = await getDb().prisma.cardToken.findFirstOrThrow({ where: { merchantId: m.merchantId, id: tok } });
      expect(row.usedAt).toBeNull();
      const events = (await m.client.request(AuditEventsDocument, { entityId: tok, first: 10 })).auditEvents.edges.map((e) => e.node);
      expect(events.filter((e) => e.action === 'card_token.forward')).toEqual([]);
    }
  });

  it('refuses a header that renders outside Latin-1 before spending the token or auditing a success', async () => {
    const number = uniqueMastercard();
    const tok = await token(number, { holderName: 'Lǐ Xiǎolóng 李小龙' });
    const before = received.length;
    const r = await rawGraphQL(
      {
        query:
          'mutation($input: ForwardRequestInput!) { forwardRequest(input: $input) { __typename ... on ValidationError { fields { path code } } } }',
        variables: {
          input: {
            token: tok,
            url: `${origin}/v1/charges`,
            method: 'POST',
            headers: { 'x-holder': '{{card.holderName}}' },
            body: '{{card.number}}',
          },
        },
      },
      { 'api-key': m.secretKey },
    );
    expect(r.json.data.forwardRequest).toMatchObject({
      __typename: 'ValidationError',
      fields: [{ path: ['input', 'headers', 'x-holder'], code: 'INVALID_INPUT' }],
    });
    expect(received.length).toBe(before);
    const row = await getDb().prisma.cardToken.findFirstOrThrow({ where: { merchantId: m.merchantId, id: tok } });
    expect(row.usedAt).toBeNull();
    const events = (await m.client.request(AuditEventsDocument, { entityId: tok, first: 10 })).auditEvents.edges.map((e) => e.node);
    expect(events.filter((e) => e.action === 'card_token.forward')).toEqual([]);

    // The token still works with a header HTTP can carry.
    reply = (_b, res) => res.end('{}');
    success(await forward({ token: tok, headers: { 'x-holder': 'fixed' }, body: '{{card.number}}' }), 'ForwardRequestSuccess');
  });
});
