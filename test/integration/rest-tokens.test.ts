import { describe, expect, it } from 'vitest';
import { EXP_YEAR } from '../helpers/expiry.js';
import { baseUrl, expectDocumented, rest, uniqueToken } from '../helpers/rest.js';
import { newMerchant, rawGraphQL, testApp, useDatabase } from '../helpers/vault.js';
import { origins } from '../../src/domain/merchants/allowLists.js';

const getDb = useDatabase();

// Seed 002: a publishable key tokenizes, a secret key pays with the token; the status decides the HTTP code.

const card = (number: string) => ({ card: { number, exp_month: 12, exp_year: EXP_YEAR, cvc: '123' } });

describe('POST /v1/tokens then POST /v1/payments (seed 002)', () => {
  const cases = [
    { number: '4242424242424242', status: 'completed', http: 201 },
    { number: '4000002500003155', status: 'requires_action', http: 202 },
    { number: '4000000000000002', status: 'failed', http: 400, code: 'card_declined' },
    { number: '4000000000009995', status: 'failed', http: 400, code: 'insufficient_funds' },
  ] as const;

  for (const c of cases) {
    it(`${c.number}: ${c.status}, HTTP ${c.http}`, async () => {
      const m = await newMerchant();
      const tok = await rest('POST', '/v1/tokens', { key: m.publishableKey, body: card(c.number) });
      expect(tok.status).toBe(201);
      await expectDocumented('POST', '/v1/tokens', tok);
      expect(tok.json).toEqual({
        id: expect.stringMatching(/^tok_/),
        card: { bin: c.number.slice(0, 6), last4: c.number.slice(-4), brand: 'visa', exp_month: 12, exp_year: EXP_YEAR },
        expires_at: expect.any(String),
      });
      const expiresIn = Date.parse(tok.json.expires_at) - Date.now();
      expect(expiresIn).toBeGreaterThan(29 * 60 * 1000);
      expect(expiresIn).toBeLessThanOrEqual(30 * 60 * 1000);

      const pay = await rest('POST', '/v1/payments', {
        key: m.secretKey,
        body: { amount: 1999, currency: 'usd', token: tok.json.id, return_url: 'https://shop.example/done' },
      });
      expect(pay.status).toBe(c.http);
      await expectDocumented('POST', '/v1/payments', pay);
      expect(pay.json).toMatchObject({
        id: expect.stringMatching(/^pay_/),
        status: c.status,
        amount: 1999,
        currency: 'USD',
        capture_method: 'automatic',
        card: { last4: c.number.slice(-4), brand: 'visa' },
      });
      if (c.status === 'requires_action') expect(pay.json.redirect_url).toMatch(/^http/);
      else expect(pay.json.redirect_url).toBeNull();
      if (c.status === 'failed') expect(pay.json.error).toEqual({ type: 'card_error', code: c.code, message: expect.any(String) });
      else expect(pay.json.error).toBeUndefined();
      expect(pay.text).not.toContain(c.number);

      // Single use: the token is spent.
      const again = await rest('POST', '/v1/payments', { key: m.secretKey, body: { amount: 100, currency: 'USD', token: tok.json.id } });
      expect(again.status).toBe(422);
      await expectDocumented('POST', '/v1/payments', again);
      expect(again.json.error).toMatchObject({ type: 'card_error', code: 'token_already_used' });
    });
  }

  it('capture_method manual: authorized, HTTP 201', async () => {
    const m = await newMerchant();
    const tok = await rest('POST', '/v1/tokens', { key: m.secretKey, body: card('4242424242424242') });
    expect(tok.status).toBe(201);
    const pay = await rest('POST', '/v1/payments', {
      key: m.secretKey,
      body: { amount: 500, currency: 'EUR', token: tok.json.id, capture_method: 'manual' },
    });
    expect(pay.status).toBe(201);
    expect(pay.json).toMatchObject({ status: 'authorized', capture_method: 'manual', amount_captured: 0 });
  });

  it('pays with a stored payment method of the merchant', async () => {
    const m = await newMerchant();
    const pm = await rest('POST', '/v2/payment-methods', {
      key: m.secretKey,
      body: {
        payment_method_type: 'card',
        payment_method_subtype: 'credit',
        payment_method_data: { card: { card_number: '4242424242424242', card_exp_month: '12', card_exp_year: String(EXP_YEAR) } },
      },
    });
    expect(pm.status).toBe(200);
    const pay = await rest('POST', '/v1/payments', {
      key: m.secretKey,
      body: { amount: 700, currency: 'USD', payment_method_id: pm.json.id },
    });
    expect(pay.status).toBe(201);
    expect(pay.json).toMatchObject({ status: 'completed', payment_method_id: pm.json.id });
    const stored = await rawGraphQL(
      { query: 'query($id: ID!) { paymentMethod(id: $id) { lastUsedAt } }', variables: { id: pm.json.id } },
      { 'api-key': m.secretKey },
    );
    expect(stored.json.data.paymentMethod.lastUsedAt).not.toBeNull();

    // Another merchant's payment method is absent.
    const other = await newMerchant();
    const theirs = await rest('POST', '/v1/payments', {
      key: other.secretKey,
      body: { amount: 700, currency: 'USD', payment_method_id: pm.json.id },
    });
    expect(theirs.status).toBe(404);
    expect(theirs.json.error).toMatchObject({ type: 'not_found_error', code: 'not_found' });
  });
});

describe('keys and errors of the token API', () => {
  it('401 without a key or with an unknown one', async () => {
    const none = await rest('POST', '/v1/tokens', { body: card('4242424242424242') });
    expect(none.status).toBe(401);
    await expectDocumented('POST', '/v1/tokens', none);
    expect(none.json).toEqual({ error: { type: 'authentication_error', code: 'unauthenticated', message: expect.any(String) } });
    const bad = await rest('POST', '/v1/payments', { key: 'sk_test_nope', body: { amount: 1, currency: 'USD', token: 'tok_x' } });
    expect(bad.status).toBe(401);
    expect(bad.text).not.toContain('sk_test_nope');
  });

  it('Authorization: Bearer works as the api-key header does', async () => {
    const m = await newMerchant();
    const tok = await rest('POST', '/v1/tokens', {
      headers: { authorization: `Bearer ${m.publishableKey}` },
      body: card('4242424242424242'),
    });
    expect(tok.status).toBe(201);
  });

  it('403 for a publishable key anywhere but /v1/tokens', async () => {
    const m = await newMerchant();
    const tok = await rest('POST', '/v1/tokens', { key: m.publishableKey, body: card('4242424242424242') });
    const pay = await rest('POST', '/v1/payments', { key: m.publishableKey, body: { amount: 100, currency: 'USD', token: tok.json.id } });
    expect(pay.status).toBe(403);
    await expectDocumented('POST', '/v1/payments', pay);
    expect(pay.json.error).toMatchObject({ type: 'permission_error', code: 'forbidden' });
    for (const [method, path] of [
      ['POST', '/v2/customers'],
      ['GET', '/v2/payment-methods/pm_x'],
    ] as const) {
      const res = await rest(method, path, { key: m.publishableKey, ...(method === 'POST' && { body: {} }) });
      expect(res.status).toBe(403);
    }
    // The token was not spent by the refused payment.
    const ok = await rest('POST', '/v1/payments', { key: m.secretKey, body: { amount: 100, currency: 'USD', token: tok.json.id } });
    expect(ok.status).toBe(201);
  });

  it('422 for an invalid or expired card, 400 for an incomplete request, never echoing the card', async () => {
    const m = await newMerchant();
    const invalid = await rest('POST', '/v1/tokens', { key: m.publishableKey, body: card('4242424242424241') });
    expect(invalid.status).toBe(422);
    await expectDocumented('POST', '/v1/tokens', invalid);
    expect(invalid.json.error).toMatchObject({ type: 'card_error', code: 'invalid_card_number', param: 'card.number' });
    expect(invalid.text).not.toContain('4242424242424241');

    const expired = await rest('POST', '/v1/tokens', {
      key: m.publishableKey,
      body: { card: { number: '4242424242424242', exp_month: 1, exp_year: 2020, cvc: '123' } },
    });
    expect(expired.status).toBe(422);
    expect(expired.json.error).toMatchObject({ type: 'card_error', code: 'card_expired', param: 'card.exp_month' });

    const missing = await rest('POST', '/v1/tokens', { key: m.publishableKey, body: { card: { number: '4242424242424242' } } });
    expect(missing.status).toBe(400);
    await expectDocumented('POST', '/v1/tokens', missing);
    expect(missing.json.error.type).toBe('invalid_request_error');
    expect(missing.json.error.fields.map((f: { param: string }) => f.param).sort()).toEqual(['card.exp_month', 'card.exp_year']);
    expect(missing.text).not.toContain('4242424242424242');

    const garbled = await rest('POST', '/v1/tokens', { key: m.publishableKey, body: '{"card": {"number": "4242424242424242",' });
    expect(garbled.status).toBe(400);
    expect(garbled.json.error).toEqual({
      type: 'invalid_request_error',
      code: 'bad_request',
      message: 'The request body is not valid JSON',
    });
    expect(garbled.text).not.toContain('4242');

    // A form (Stripe's clients send one) is not read as JSON that failed: 415, saying what the route reads.
    const form = await rest('POST', '/v1/tokens', {
      key: m.publishableKey,
      body: 'card[number]=4242424242424242&card[exp_month]=4&card[exp_year]=2031',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    await expectDocumented('POST', '/v1/tokens', form);
    expect(form.json.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_media_type' });
    expect(form.text).not.toContain('4242');
    // JSON sent as a form (curl -d without -H) is still read.
    const curlish = await rest('POST', '/v1/tokens', {
      key: m.publishableKey,
      body: JSON.stringify(card('4000056655665556')),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(curlish.status).toBe(201);

    const wrongType = await rest('POST', '/v1/tokens', {
      key: m.publishableKey,
      body: { card: { number: 4242424242424242, exp_month: 1, exp_year: 2030 } },
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.text).not.toContain('4242424242424242');

    const unknownField = await rest('POST', '/v1/tokens', {
      key: m.publishableKey,
      body: { ...card('4242424242424242'), pan: '4000056655665556' },
    });
    expect(unknownField.status).toBe(400);
    expect(unknownField.text).not.toContain('4000056655665556');

    expect(await getDb().prisma.cardToken.count({ where: { merchantId: m.merchantId } })).toBe(1);
  });

  it('replays a payment for the same Idempotency-Key instead of paying twice', async () => {
    const m = await newMerchant();
    const tok = await rest('POST', '/v1/tokens', { key: m.publishableKey, body: card('4242424242424242') });
    const body = { amount: 4200, currency: 'USD', token: tok.json.id };
    const headers = { 'idempotency-key': uniqueToken('order') };
    const first = await rest('POST', '/v1/payments', { key: m.secretKey, body, headers });
    const second = await rest('POST', '/v1/payments', { key: m.secretKey, body, headers });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.json).toEqual(first.json);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId } })).toBe(1);

    // Concurrent retries of another payment: one pays, the others get its answer.
    const tok2 = await rest('POST', '/v1/tokens', { key: m.publishableKey, body: card('4242424242424242') });
    const concurrent = { 'idempotency-key': uniqueToken('concurrent') };
    const answers = await Promise.all(
      [1, 2, 3].map(() =>
        rest('POST', '/v1/payments', {
          key: m.secretKey,
          body: { amount: 300, currency: 'USD', token: tok2.json.id },
          headers: concurrent,
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
    expect(new Set(answers.map((a) => a.json.id)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(2);
    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId } })).toBe(2);

    const conflict = await rest('POST', '/v1/payments', { key: m.secretKey, body: { ...body, amount: 1 }, headers });
    expect(conflict.status).toBe(409);
    await expectDocumented('POST', '/v1/payments', conflict);
    expect(conflict.json.error).toMatchObject({ type: 'idempotency_error', code: 'idempotency_conflict' });
  });
});

describe('POST /v1/tokens from a browser', () => {
  it("answers the preflight and the request for the merchant's allowed origin, and refuses other origins", async () => {
    const m = await newMerchant();
    const origin = `https://shop-${m.merchantId.slice(4, 12).toLowerCase()}.example`;
    await origins.allow(testApp(), m.merchantId, origin);
    const pre = await fetch(`${baseUrl()}/v1/tokens`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, api-key' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(origin);

    const ok = await rest('POST', '/v1/tokens', { key: m.publishableKey, body: card('4242424242424242'), headers: { origin } });
    expect(ok.status).toBe(201);
    expect(ok.headers.get('access-control-allow-origin')).toBe(origin);

    const elsewhere = await rest('POST', '/v1/tokens', {
      key: m.publishableKey,
      body: card('4242424242424242'),
      headers: { origin: 'https://evil.example' },
    });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.json.error.type).toBe('permission_error');
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('metrics of the REST dialects', () => {
  it('counts requests by route and HTTP status on /metrics', async () => {
    const m = await newMerchant();
    await rest('POST', '/v1/tokens', { key: m.publishableKey, body: card('4242424242424242') });
    const text = await (await fetch(`${baseUrl()}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('vault_rest_requests_total{operation="createToken",status="201"}'));
    expect(Number(line?.split(' ').pop())).toBeGreaterThanOrEqual(1);
    expect(text).toContain('vault_rest_request_duration_seconds_bucket{le="0.001",operation="createToken"}');
  });
});
