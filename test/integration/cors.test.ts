import { describe, expect, inject, it } from 'vitest';
import { origins } from '../../src/domain/merchants/allowLists.js';
import { newMerchant, useDatabase, testApp } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

useDatabase();

const TOKEN = `mutation { createCardToken(input: { card: { number: "4242424242424242", expMonth: 1, expYear: ${EXP_YEAR} } }) { __typename } }`;

async function post(origin: string | undefined, key: string) {
  const res = await fetch(inject('graphqlUrl'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': key, ...(origin && { origin }) },
    body: JSON.stringify({ query: TOKEN }),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

async function preflight(origin: string) {
  return fetch(inject('graphqlUrl'), {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, api-key' },
  });
}

describe('CORS per merchant', () => {
  it("lets a page on the merchant's allowed origin create card tokens with the publishable key", async () => {
    const m = await newMerchant();
    const origin = `https://shop-${m.merchantId.slice(4, 12).toLowerCase()}.example`;
    await origins.allow(testApp(), m.merchantId, `${origin}/`);

    const pre = await preflight(origin);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(origin);
    expect(pre.headers.get('access-control-allow-headers')).toContain('api-key');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');

    const res = await post(origin, m.publishableKey);
    expect(res.json.data.createCardToken.__typename).toBe('CreateCardTokenSuccess');
    expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it('refuses unknown origins, and origins of another merchant, executing nothing', async () => {
    const m = await newMerchant();
    const other = await newMerchant();
    const theirs = `https://other-${other.merchantId.slice(4, 12).toLowerCase()}.example`;
    await origins.allow(testApp(), other.merchantId, theirs);

    const unknown = await preflight('https://evil.example');
    expect(unknown.status).toBe(403);
    expect(unknown.headers.get('access-control-allow-origin')).toBeNull();

    for (const origin of ['https://evil.example', theirs, 'null']) {
      const res = await post(origin, m.publishableKey);
      expect(res.status).toBe(403);
      expect(res.json.errors[0].extensions.code).toBe('FORBIDDEN');
      expect(res.json.data ?? null).toBeNull();
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('leaves server-to-server (no Origin) and same-origin requests alone', async () => {
    const m = await newMerchant();
    expect((await post(undefined, m.secretKey)).json.data.createCardToken.__typename).toBe('CreateCardTokenSuccess');
    const self = new URL(inject('graphqlUrl')).origin;
    const same = await post(self, m.secretKey);
    expect(same.json.data.createCardToken.__typename).toBe('CreateCardTokenSuccess');
    expect(same.headers.get('access-control-allow-origin')).toBeNull();
  });
});
