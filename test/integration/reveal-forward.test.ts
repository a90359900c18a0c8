import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  AuditEventsDocument,
  CreateCardTokenDocument,
  ForwardRequestDocument,
  PaymentMethodTokensDocument,
  RevealCardDocument,
  TokenizeCardDocument,
  type ForwardRequestInput,
} from '../../packages/client/src/index.js';
import { sealAuditNow } from '../../src/domain/audit/sealer.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { forwardHosts } from '../../src/domain/merchants/allowLists.js';
import { clientFor, newMerchant, rawGraphQL, success, uniqueVisa, useDatabase, type TestMerchant, testApp } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

const getDb = useDatabase();

const card = (number: string, extra: Record<string, unknown> = {}) => ({
  number,
  expMonth: 3,
  expYear: EXP_YEAR,
  holderName: 'Ann "Quote" O\'Neil & Co',
  ...extra,
});

async function vault(m: TestMerchant, number = uniqueVisa(), extra: Record<string, unknown> = {}) {
  const r = await m.client.request(TokenizeCardDocument, { input: { card: card(number), ...extra } });
  return success(r.tokenizeCard, 'TokenizeCardSuccess').paymentMethod;
}

/** The audit events of a record with this action prefix (e.g. `payment_method.reveal`), newest first. */
async function auditOf(m: TestMerchant, entityId: string, action = '') {
  const events = (await m.client.request(AuditEventsDocument, { entityId, first: 50 })).auditEvents.edges.map((e) => e.node);
  return events.filter((e) => e.action.startsWith(action));
}

function serverLog(): string {
  return readFileSync(inject('serverLog'), 'utf8');
}

describe('revealCard', () => {
  it('refuses secret keys without --allow-reveal and publishable keys, and audits the refusal', async () => {
    const m = await newMerchant();
    const pm = await vault(m);
    const refused = await rawGraphQL(
      { query: 'mutation($id: ID!) { revealCard(id: $id) { __typename } }', variables: { id: pm.id } },
      { 'api-key': m.secretKey },
    );
    expect(refused.json.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(refused.json.data).toBeNull();
    const publishable = await rawGraphQL(
      { query: 'mutation($id: ID!) { revealCard(id: $id) { __typename } }', variables: { id: pm.id } },
      { 'api-key': m.publishableKey },
    );
    expect(publishable.json.errors[0].extensions.code).toBe('FORBIDDEN');
    // An expected refusal, not a crash: nothing at error level (yoga logged every rewritten error there).
    await new Promise((r) => setTimeout(r, 300));
    expect(
      serverLog()
        .split('\n')
        .filter((l) => l.includes('may not reveal') && /"level":(50|60)/.test(l)),
    ).toEqual([]);

    expect(await auditOf(m, pm.id, 'payment_method.reveal')).toMatchObject([
      { action: 'payment_method.reveal', entityType: 'payment_method', outcome: 'denied' },
    ]);
  });

  it('reveals the card to a key created with --allow-reveal, audits it, and logs nothing of it', async () => {
    const m = await newMerchant();
    const number = uniqueVisa();
    const pm = await vault(m, number);
    const revealer = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true });
    const client = clientFor(revealer.key);
    // Kept as given: letters, digits and hyphens, and no digit run that passes Luhn (a bare millisecond
    // timestamp would, often enough to make this test flaky, and be replaced).
    const requestId = `reveal-${Date.now().toString(36)}`;

    const r = await client.request(RevealCardDocument, { id: pm.id }, { 'x-request-id': requestId, 'idempotency-key': `reveal-${pm.id}` });
    expect(success(r.revealCard, 'RevealCardSuccess').card).toEqual({
      number,
      expMonth: 3,
      expYear: EXP_YEAR,
      holderName: 'Ann "Quote" O\'Neil & Co',
    });

    // Sealed into the chain after the commit (the server's sealer does within a second; here, now).
    await sealAuditNow(testApp());
    const [event] = await auditOf(m, pm.id, 'payment_method.reveal');
    expect(event).toMatchObject({ action: 'payment_method.reveal', outcome: 'success', keyId: revealer.keyId, requestId });
    expect(event!.hash).toMatch(/^[0-9a-f]{64}$/);

    // Not found is audited too, as a failure (an id that is not even shaped like one is not: see pan-leaks).
    const unknown = `pm_${'0'.repeat(10)}doesnotexist`;
    const missing = await client.request(RevealCardDocument, { id: unknown });
    expect(missing.revealCard).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect(await auditOf(m, unknown)).toMatchObject([{ outcome: 'failed' }]);

    // Not kept for idempotent replay, not in the log.
    const kept = await getDb().prisma.idempotencyKey.count({ where: { merchantId: m.merchantId } });
    expect(kept).toBe(0);
    expect(serverLog()).not.toContain(number);
  });
});

// ---------------------------------------------------------------------------------------------------------
// A provider-like upstream on loopback: records what it receives and answers as each test says.

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (req: Received, res: ServerResponse) => void;

async function startUpstream(): Promise<{
  server: Server;
  origin: string;
  host: string;
  received: Received[];
  handle: (h: Handler) => void;
}> {
  const received: Received[] = [];
  let handler: Handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    received.push(r);
    handler(r, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, origin: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, received, handle: (h) => (handler = h) };
}

describe('forwardRequest', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let other: Awaited<ReturnType<typeof startUpstream>>;
  let m: TestMerchant;

  beforeAll(async () => {
    upstream = await startUpstream();
    other = await startUpstream();
    m = await newMerchant();
    await forwardHosts.allow(testApp(), m.merchantId, upstream.host);
  });
  afterAll(() => {
    upstream.server.closeAllConnections();
    other.server.closeAllConnections();
    upstream.server.close();
    other.server.close();
  });

  async function forward(input: Partial<ForwardRequestInput>, merchant = m) {
    return (
      await merchant.client.request(ForwardRequestDocument, {
        input: { url: `${upstream.origin}/v1/charges`, method: 'POST', ...input } as ForwardRequestInput,
      })
    ).forwardRequest;
  }

  it('fills the card in (escaped for JSON) and masks it in the answer', async () => {
    const number = uniqueVisa();
    const pm = await vault(m, number);
    upstream.handle((req, res) =>
      res.writeHead(201, { 'content-type': 'application/json', 'x-echo-pan': number }).end(`{"echo":${req.body},"cvc":"123"}`),
    );
    const r = success(
      await forward({
        paymentMethodId: pm.id,
        headers: { 'content-type': 'application/json', authorization: 'Bearer psp_secret', 'x-card-last': '{{card.number}}' },
        body: '{"number":"{{card.number}}","exp":"{{card.expMonth}}/{{card.expYear}}","name":"{{card.holderName}}","order":"{{order.id}}"}',
      }),
      'ForwardRequestSuccess',
    );

    const sent = upstream.received.at(-1)!;
    expect(sent.method).toBe('POST');
    expect(sent.url).toBe('/v1/charges');
    expect(sent.headers.authorization).toBe('Bearer psp_secret');
    expect(sent.headers['x-card-last']).toBe(number);
    expect(JSON.parse(sent.body)).toEqual({ number, exp: `03/${EXP_YEAR}`, name: 'Ann "Quote" O\'Neil & Co', order: '{{order.id}}' });

    expect(r.status).toBe(201);
    const masked = `${number.slice(0, 6)}******${number.slice(-4)}`;
    expect(JSON.parse(r.body)).toMatchObject({ echo: { number: masked }, cvc: '***' });
    expect((r.headers as Record<string, string>)['x-echo-pan']).toBe(masked);
    expect(JSON.stringify(r)).not.toContain(number);

    expect(await auditOf(m, pm.id, 'payment_method.forward')).toMatchObject([
      { action: 'payment_method.forward', outcome: 'success', detail: { host: upstream.host, method: 'POST' } },
    ]);
    expect(serverLog()).not.toContain(number);
  });

  it('refuses a host not on the list with FORBIDDEN; nothing is sent and the refusal is audited', async () => {
    const pm = await vault(m);
    const before = other.received.length;
    const r = await rawGraphQL(
      {
        query: 'mutation($input: ForwardRequestInput!) { forwardRequest(input: $input) { __typename } }',
        variables: { input: { paymentMethodId: pm.id, url: `${other.origin}/steal`, method: 'POST', body: '{{card.number}}' } },
      },
      { 'api-key': m.secretKey },
    );
    expect(r.json.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(other.received.length).toBe(before);
    expect(await auditOf(m, pm.id, 'payment_method.forward')).toMatchObject([
      { action: 'payment_method.forward', outcome: 'denied', detail: { host: other.host } },
    ]);

    // Another merchant's list does not count.
    const stranger = await newMerchant();
    const theirs = await vault(stranger);
    const r2 = await rawGraphQL(
      {
        query: 'mutation($input: ForwardRequestInput!) { forwardRequest(input: $input) { __typename } }',
        variables: { input: { paymentMethodId: theirs.id, url: upstream.origin, method: 'GET' } },
      },
      { 'api-key': stranger.secretKey },
    );
    expect(r2.json.errors[0].extensions.code).toBe('FORBIDDEN');
  });

  it('forwards a card token once, with its CVC; form bodies are form-encoded', async () => {
    const number = uniqueVisa();
    const t = await clientFor(m.publishableKey).request(CreateCardTokenDocument, { input: { card: card(number, { cvc: '987' }) } });
    const token = success(t.createCardToken, 'CreateCardTokenSuccess').token.id;
    upstream.handle((_req, res) => res.writeHead(200).end('ok'));
    const input = {
      token,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'card[number]={{card.number}}&card[cvc]={{card.cvc}}&card[name]={{card.holderName}}',
    };
    success(await forward(input), 'ForwardRequestSuccess');
    expect(new URLSearchParams(upstream.received.at(-1)!.body).get('card[cvc]')).toBe('987');
    expect(new URLSearchParams(upstream.received.at(-1)!.body).get('card[name]')).toBe('Ann "Quote" O\'Neil & Co');
    expect(await forward(input)).toMatchObject({ __typename: 'TokenAlreadyUsedError' });
    expect(await auditOf(m, token, 'card_token.forward')).toMatchObject([
      { action: 'card_token.forward', entityType: 'card_token', outcome: 'success' },
    ]);
  });

  it('refuses bad requests with typed errors before anything is sent', async () => {
    const pm = await vault(m);
    const before = upstream.received.length;
    const fieldsOf = async (input: Partial<ForwardRequestInput>) => {
      const r = await forward(input);
      if (r.__typename !== 'ValidationError') throw new Error(`expected ValidationError, got ${r.__typename}`);
      return r.fields.map((f) => f.path.join('.'));
    };
    expect(await fieldsOf({ paymentMethodId: pm.id, body: '{{card.cvc}}' })).toEqual(['input.body']);
    expect(await fieldsOf({ paymentMethodId: pm.id, body: '{{card.numbr}}' })).toEqual(['input.body']);
    expect(await fieldsOf({ paymentMethodId: pm.id, url: `${upstream.origin}/{{card.number}}` })).toEqual(['input.url']);
    expect(await fieldsOf({ paymentMethodId: pm.id, method: 'TRACE' })).toEqual(['input.method']);
    expect(await fieldsOf({ paymentMethodId: pm.id, method: 'GET', body: 'x' })).toEqual(['input.body']);
    expect(await fieldsOf({ paymentMethodId: pm.id, headers: { host: 'evil.example', 'x-ok': 'fine', 'x-bad': 'a\r\nb' } })).toEqual([
      'input.headers.host',
      'input.headers.x-bad',
    ]);
    expect(await fieldsOf({ url: upstream.origin })).toEqual(['input.paymentMethodId']);
    expect(await fieldsOf({ paymentMethodId: pm.id, url: 'ftp://127.0.0.1/' })).toEqual(['input.url']);
    expect(await forward({ paymentMethodId: 'pm_nosuch' })).toMatchObject({ __typename: 'NotFoundError' });
    expect(await forward({ paymentMethodId: pm.id, body: '{{networkToken.number}}' })).toMatchObject({ __typename: 'ConflictError' });
    expect(upstream.received.length).toBe(before);
  });

  it('returns redirects to other hosts unfollowed, and follows those to the same host', async () => {
    const pm = await vault(m);
    const before = other.received.length;
    upstream.handle((req, res) => {
      if (req.url === '/away') res.writeHead(307, { location: `${other.origin}/collect` }).end();
      else if (req.url === '/moved') res.writeHead(307, { location: '/landed' }).end();
      else res.writeHead(200).end(`landed with ${req.body.length} bytes`);
    });
    const away = success(
      await forward({ paymentMethodId: pm.id, url: `${upstream.origin}/away`, body: '{{card.number}}' }),
      'ForwardRequestSuccess',
    );
    expect(away.status).toBe(307);
    expect((away.headers as Record<string, string>).location).toBe(`${other.origin}/collect`);
    expect(other.received.length).toBe(before);

    const moved = success(
      await forward({ paymentMethodId: pm.id, url: `${upstream.origin}/moved`, body: '{{card.number}}' }),
      'ForwardRequestSuccess',
    );
    expect(moved).toMatchObject({ status: 200, body: 'landed with 16 bytes' });
  });

  it('fails with FORWARD_FAILED on timeouts, oversized answers and unreachable hosts', async () => {
    const pm = await vault(m);
    upstream.handle((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.writeHead(200).end('late'), 4000);
      else res.writeHead(200).end('x'.repeat(200_000));
    });
    expect(await forward({ paymentMethodId: pm.id, url: `${upstream.origin}/slow`, method: 'GET' })).toMatchObject({
      code: 'FORWARD_FAILED',
      reason: 'TIMEOUT',
    });
    expect(await forward({ paymentMethodId: pm.id, url: `${upstream.origin}/big`, method: 'GET' })).toMatchObject({
      code: 'FORWARD_FAILED',
      reason: 'RESPONSE_TOO_LARGE',
    });

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await forwardHosts.allow(testApp(), m.merchantId, `127.0.0.1:${port}`);
    expect(await forward({ paymentMethodId: pm.id, url: `http://127.0.0.1:${port}/`, method: 'GET' })).toMatchObject({
      code: 'FORWARD_FAILED',
      reason: 'UNREACHABLE',
    });
  });

  it('fills in a network token with a fresh cryptogram each time', async () => {
    const number = uniqueVisa();
    const pm = await vault(m, number, { networkTokenization: { enable: true } });
    const { networkToken } = (await m.client.request(PaymentMethodTokensDocument, { id: pm.id })).paymentMethod!;
    upstream.handle((_req, res) => res.writeHead(200).end('{}'));
    const body =
      '{"token":"{{networkToken.number}}","exp":"{{networkToken.expMonth}}/{{networkToken.expYear}}","cryptogram":"{{networkToken.cryptogram}}","eci":"{{networkToken.eci}}"}';
    const sent = [];
    for (let i = 0; i < 2; i++) {
      success(await forward({ paymentMethodId: pm.id, headers: { 'content-type': 'application/json' }, body }), 'ForwardRequestSuccess');
      sent.push(JSON.parse(upstream.received.at(-1)!.body) as { token: string; exp: string; cryptogram: string; eci: string });
    }
    expect(sent[0]!.token).toMatch(/^\d{16}$/);
    expect(sent[0]!.token).not.toBe(number);
    expect(sent[0]!.token.slice(-4)).toBe(networkToken!.last4);
    expect(sent[0]!.exp).toBe(`${String(networkToken!.expMonth).padStart(2, '0')}/${networkToken!.expYear}`);
    expect(sent[0]!.eci).toBe('07');
    expect(Buffer.from(sent[0]!.cryptogram, 'base64')).toHaveLength(20);
    expect(sent[1]!.cryptogram).not.toBe(sent[0]!.cryptogram);
  });
});
