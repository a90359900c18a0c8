import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createProfile } from '../../src/domain/merchants/profiles.js';
import { curlRequests } from '../helpers/curl.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { rest } from '../helpers/rest.js';
import { newMerchant, testApp, useDatabase } from '../helpers/vault.js';

// x-profile-id on the REST dialects: the same resolution as GraphQL (src/http/context.ts resolvePrincipal),
// so seed 000's requests, sent with the header as the document writes them, act in that profile.

useDatabase();

const SEED = fileURLToPath(new URL('../fixtures/seed-000-hyperswitch-s2s-vault.txt', import.meta.url));
const YY = String(EXP_YEAR).slice(2);

describe('x-profile-id on the REST dialects', () => {
  it("seed 000's customer and card, created in the profile the header names, are absent from another profile", async () => {
    const m = await newMerchant();
    const profile = await createProfile(testApp(), { merchantId: m.merchantId, name: 'Second brand' });
    const [createCustomer, createCard] = curlRequests(SEED);
    const send = (r: typeof createCustomer & object, edit: (b: string) => string = (b) => b) =>
      rest(r.method, new URL(r.url).pathname, {
        key: m.secretKey,
        headers: { ...r.headers, 'api-key': m.secretKey, 'x-profile-id': r.headers['x-profile-id']!.replace('<profile-id>', profile) },
        body: edit(r.body!),
      });
    const customer = await send(createCustomer!);
    expect(customer.status).toBe(200);
    const pm = await send(createCard!, (b) =>
      b
        .replace('"card_exp_year": "25"', `"card_exp_year": "${YY}"`)
        .replace('12345_cus_01926c58bc6e77c09e809964e72af8c8', customer.json.id),
    );
    expect(pm.status).toBe(200);

    const inProfile = await rest('GET', `/v2/payment-methods/${pm.json.id}`, { key: m.secretKey, headers: { 'x-profile-id': profile } });
    expect(inProfile.status).toBe(200);
    // Without the header a key sees every profile.
    expect((await rest('GET', `/v2/customers/${customer.json.id}`, { key: m.secretKey })).status).toBe(200);
    const other = await createProfile(testApp(), { merchantId: m.merchantId, name: 'Third brand' });
    for (const path of [`/v2/payment-methods/${pm.json.id}`, `/v2/customers/${customer.json.id}`]) {
      expect((await rest('GET', path, { key: m.secretKey, headers: { 'x-profile-id': other } })).status, path).toBe(404);
    }
  });

  it('an unknown or foreign profile is refused 403 in the error shape, nothing written', async () => {
    const m = await newMerchant();
    const stranger = await newMerchant();
    const theirs = await createProfile(testApp(), { merchantId: stranger.merchantId, name: 'Theirs' });
    for (const profile of ['pro_0000000000000000000000', theirs, 'nonsense']) {
      const res = await rest('POST', '/v2/customers', { key: m.secretKey, body: { name: 'x' }, headers: { 'x-profile-id': profile } });
      expect(res.status, profile).toBe(403);
      expect(res.json.error).toMatchObject({ type: 'permission_error', code: 'forbidden' });
    }
  });
});
