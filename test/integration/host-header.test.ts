import { request as httpRequest } from 'node:http';
import { describe, expect, inject, it } from 'vitest';
import { newMerchant, useDatabase } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// Nothing security-relevant is derived from the Host header, which the caller sets: not the challenge link
// (it carries the challenge's secret), not the same-origin exemption from the merchant's CORS allow-list.

useDatabase();

const FORGED = 'evil.example';

/** A GraphQL POST with headers fetch would not send (Host), through node:http. */
function post(headers: Record<string, string>, query: string): Promise<{ status: number; json: any }> {
  const url = new URL(inject('graphqlUrl'));
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ query }));
  });
}

const CHALLENGE = `mutation { createPayment(input: { amount: 1000, currency: "EUR", returnUrl: "https://shop.example/back",
  card: { number: "4000002500003155", expMonth: 12, expYear: ${EXP_YEAR} } }) {
  __typename ... on CreatePaymentSuccess { payment { status redirectUrl } } ... on Error { code message } } }`;

describe('a forged Host header', () => {
  it('does not become the challenge link (which carries its secret)', async () => {
    const m = await newMerchant();
    const r = await post({ 'api-key': m.secretKey, host: FORGED }, CHALLENGE);
    const payment = r.json.data.createPayment.payment;
    expect(payment.status).toBe('REQUIRES_ACTION');
    expect(payment.redirectUrl).not.toContain(FORGED);
    expect(new URL(payment.redirectUrl).origin).toBe(new URL(inject('graphqlUrl')).origin);
  });

  it('does not make Origin == Host look same-origin to the CORS check', async () => {
    const m = await newMerchant();
    for (const [host, origin] of [
      [FORGED, `http://${FORGED}`],
      [`${FORGED}:8443`, `https://${FORGED}:8443`],
    ] as const) {
      const r = await post(
        { 'api-key': m.publishableKey, host, origin },
        `mutation { createCardToken(input: { card: { number: "4242424242424242", expMonth: 1, expYear: ${EXP_YEAR} } }) { __typename } }`,
      );
      expect(r.status, origin).toBe(403);
      expect(r.json.errors[0].extensions.code).toBe('FORBIDDEN');
    }
  });
});
