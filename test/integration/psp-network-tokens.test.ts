import { createHmac } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import {
  AuditEventsDocument,
  CreatePaymentDocument,
  PaymentMethodTokensDocument,
  SimulateNetworkTokenEventDocument,
  TokenizeCardDocument,
  UpdatePaymentMethodDocument,
  type NetworkTokenEvent,
  type TokenizeCardInput,
} from '../../packages/client/src/index.js';
import { parseMasterKeys } from '../../src/crypto/masterKeys.js';
import { createSandboxTsp, SIGNATURE_HEADER } from '../../src/integrations/tokenServices/sandbox.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { newMerchant, success, uniqueVisa, useDatabase, type TestMerchant } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

const getDb = useDatabase();
const base = () => inject('graphqlUrl').replace(/\/graphql$/, '');

const VISA_DECLINED = '4000000000000002';
const JCB = '3530111333300000';
const card = (number: string) => ({ number, expMonth: 12, expYear: EXP_YEAR, holderName: 'Token Holder' });

async function tokenize(m: TestMerchant, input: Partial<TokenizeCardInput>) {
  return (await m.client.request(TokenizeCardDocument, { input: { card: card(uniqueVisa()), ...input } })).tokenizeCard;
}

async function vaulted(m: TestMerchant, input: Partial<TokenizeCardInput>) {
  return success(await tokenize(m, input), 'TokenizeCardSuccess').paymentMethod;
}

async function tokens(m: TestMerchant, id: string) {
  const pm = (await m.client.request(PaymentMethodTokensDocument, { id })).paymentMethod;
  if (!pm) throw new Error(`no payment method ${id}`);
  return pm;
}

async function payWith(m: TestMerchant, paymentMethodId: string) {
  const r = await m.client.request(CreatePaymentDocument, { input: { amount: 500, currency: 'EUR', paymentMethodId } });
  return success(r.createPayment, 'CreatePaymentSuccess').payment;
}

async function simulate(
  m: TestMerchant,
  paymentMethodId: string,
  event: NetworkTokenEvent,
  extra: { expMonth?: number; expYear?: number } = {},
) {
  const r = await m.client.request(SimulateNetworkTokenEventDocument, { input: { paymentMethodId, event, ...extra } });
  return success(r.simulateNetworkTokenEvent, 'SimulateNetworkTokenEventSuccess').paymentMethod;
}

async function countRows(table: 'payment_methods' | 'psp_tokens' | 'network_tokens', merchantId: string): Promise<number> {
  const rows = await getDb().prisma.$queryRawUnsafe<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM ${table} WHERE merchant_id = $1`,
    merchantId,
  );
  return rows[0]!.n;
}

describe('PSP tokenization', () => {
  it('issues a multi-use sandbox token, stores it sealed, and every payment through the sandbox uses it', async () => {
    const m = await newMerchant();
    const pm = await vaulted(m, { pspTokenization: { tokenizationType: 'MULTI_USE', connectorId: 'sandbox' } });
    const [token] = (await tokens(m, pm.id)).pspTokens;
    expect(token).toMatchObject({ connectorId: 'sandbox', tokenizationType: 'MULTI_USE', status: 'ACTIVE', lastUsedAt: null });
    expect(token!.token).toMatch(/^sbxtok_a[0-9A-Za-z]{22}$/);
    expect(token!.connectorTokenRequestReferenceId).toMatch(/^sbxreq_/);

    const [stored] = await getDb().prisma.$queryRaw<{ token: string }[]>`SELECT token FROM psp_tokens WHERE merchant_id = ${m.merchantId}`;
    expect(stored!.token).toMatch(/^v1\./);
    expect(stored!.token).not.toContain(token!.token);

    for (let i = 0; i < 2; i++) {
      const payment = await payWith(m, pm.id);
      expect(payment).toMatchObject({ status: 'COMPLETED', instrument: 'PSP_TOKEN', connectorId: 'sandbox' });
    }
    const after = (await tokens(m, pm.id)).pspTokens;
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ status: 'ACTIVE' });
    expect(after[0]!.lastUsedAt).not.toBeNull();
  });

  it('spends a single-use token on one payment; the next one pays with the card', async () => {
    const m = await newMerchant();
    const pm = await vaulted(m, { pspTokenization: { tokenizationType: 'SINGLE_USE', connectorId: 'sandbox' } });
    expect((await payWith(m, pm.id)).instrument).toBe('PSP_TOKEN');
    expect((await tokens(m, pm.id)).pspTokens).toMatchObject([{ tokenizationType: 'SINGLE_USE', status: 'INACTIVE' }]);
    const second = await payWith(m, pm.id);
    expect(second).toMatchObject({ status: 'COMPLETED', instrument: 'CARD' });
  });

  it('gives a single-use token to exactly one of concurrent payments', async () => {
    const m = await newMerchant();
    const pm = await vaulted(m, { pspTokenization: { tokenizationType: 'SINGLE_USE', connectorId: 'sandbox' } });
    const payments = await Promise.all(Array.from({ length: 8 }, () => payWith(m, pm.id)));
    expect(payments.filter((p) => p.instrument === 'PSP_TOKEN')).toHaveLength(1);
    expect(payments.every((p) => p.status === 'COMPLETED')).toBe(true);
  });

  it("keeps the test card's answer: a declined card's token is declined too", async () => {
    const m = await newMerchant();
    const pm = await vaulted(m, { card: card(VISA_DECLINED), pspTokenization: { tokenizationType: 'MULTI_USE', connectorId: 'sandbox' } });
    expect(await payWith(m, pm.id)).toMatchObject({ status: 'FAILED', instrument: 'PSP_TOKEN', failureCode: 'card_declined' });
  });

  it('reuses the active multi-use token for a duplicate, and replaces it with a fresh single-use one when asked', async () => {
    const m = await newMerchant();
    const number = uniqueVisa();
    const first = await vaulted(m, { card: card(number), pspTokenization: { tokenizationType: 'MULTI_USE', connectorId: 'sandbox' } });
    const again = success(
      await tokenize(m, { card: card(number), pspTokenization: { tokenizationType: 'MULTI_USE', connectorId: 'sandbox' } }),
      'TokenizeCardSuccess',
    );
    expect(again).toMatchObject({ duplicate: true, paymentMethod: { id: first.id } });
    expect((await tokens(m, first.id)).pspTokens).toHaveLength(1);

    await vaulted(m, { card: card(number), pspTokenization: { tokenizationType: 'SINGLE_USE', connectorId: 'sandbox' } });
    const list = (await tokens(m, first.id)).pspTokens;
    expect(list.map((t) => [t.tokenizationType, t.status])).toEqual([
      ['SINGLE_USE', 'ACTIVE'],
      ['MULTI_USE', 'INACTIVE'],
    ]);
  });

  it('refuses an unknown connector before storing anything', async () => {
    const m = await newMerchant();
    const r = await tokenize(m, { pspTokenization: { tokenizationType: 'MULTI_USE', connectorId: 'acme_psp' } });
    expect(r).toMatchObject({ __typename: 'ConnectorUnavailableError', code: 'CONNECTOR_UNAVAILABLE' });
    expect(await countRows('payment_methods', m.merchantId)).toBe(0);
  });

  it('records a token obtained elsewhere with updatePaymentMethod; the newest per connector is the active one', async () => {
    const m = await newMerchant();
    const pm = await vaulted(m, {});
    const record = async (token: string) =>
      (
        await m.client.request(UpdatePaymentMethodDocument, {
          id: pm.id,
          input: { connectorTokenDetails: { connectorId: 'acme_psp', token, connectorTokenRequestReferenceId: 'req-1' } },
        })
      ).updatePaymentMethod;
    success(await record('acme_tok_1'), 'UpdatePaymentMethodSuccess');
    success(await record('acme_tok_2'), 'UpdatePaymentMethodSuccess');
    expect((await tokens(m, pm.id)).pspTokens).toMatchObject([
      {
        connectorId: 'acme_psp',
        token: 'acme_tok_2',
        tokenizationType: 'MULTI_USE',
        status: 'ACTIVE',
        connectorTokenRequestReferenceId: 'req-1',
      },
      { connectorId: 'acme_psp', token: 'acme_tok_1', status: 'INACTIVE' },
    ]);
    // Another connector's token is not sent to the sandbox.
    expect((await payWith(m, pm.id)).instrument).toBe('CARD');

    const refused = await record('4242 4242 4242 4242');
    expect(refused).toMatchObject({ __typename: 'ValidationError', fields: [{ path: ['input', 'connectorTokenDetails', 'token'] }] });
    expect(JSON.stringify(refused)).not.toContain('4242 4242');
    expect(await countRows('psp_tokens', m.merchantId)).toBe(2);
  });
});

describe('network tokenization', () => {
  it('issues a network token with its own number, expiry and last4, stored sealed', async () => {
    const m = await newMerchant();
    const number = uniqueVisa();
    const pm = await vaulted(m, { card: card(number), networkTokenization: { enable: true } });
    const { networkToken } = await tokens(m, pm.id);
    expect(networkToken).toMatchObject({
      status: 'ACTIVE',
      expMonth: new Date().getUTCMonth() + 1,
      expYear: new Date().getUTCFullYear() + 3,
    });
    expect(networkToken!.last4).toMatch(/^\d{4}$/);
    expect(networkToken!.last4).not.toBe(number.slice(-4));
    expect(networkToken!.tokenReferenceId).toMatch(/^sbxntr_/);
    const [row] = await getDb().prisma.$queryRaw<
      { number: string; expiry: string }[]
    >`SELECT number, expiry FROM network_tokens WHERE merchant_id = ${m.merchantId}`;
    expect(row!.number).toMatch(/^v1\./);
    expect(row!.expiry).toMatch(/^v1\./);
  });

  it('pays with the network token and a cryptogram; a suspended token is not used until it is resumed', async () => {
    const m = await newMerchant();
    const pm = await vaulted(m, { networkTokenization: { enable: true } });
    expect(await payWith(m, pm.id)).toMatchObject({ status: 'COMPLETED', instrument: 'NETWORK_TOKEN' });

    expect((await simulate(m, pm.id, 'SUSPEND')).networkToken).toMatchObject({ status: 'SUSPENDED' });
    expect(await payWith(m, pm.id)).toMatchObject({ status: 'COMPLETED', instrument: 'CARD' });

    expect((await simulate(m, pm.id, 'RESUME')).networkToken).toMatchObject({ status: 'ACTIVE' });
    expect((await payWith(m, pm.id)).instrument).toBe('NETWORK_TOKEN');

    expect((await simulate(m, pm.id, 'UPDATE_EXPIRY', { expMonth: 7, expYear: EXP_YEAR + 1 })).networkToken).toMatchObject({
      expMonth: 7,
      expYear: EXP_YEAR + 1,
      status: 'ACTIVE',
    });

    expect((await simulate(m, pm.id, 'DELETE')).networkToken).toMatchObject({ status: 'DELETED' });
    // Deleted is final.
    expect((await simulate(m, pm.id, 'RESUME')).networkToken).toMatchObject({ status: 'DELETED' });
    expect((await payWith(m, pm.id)).instrument).toBe('CARD');

    const events = (await m.client.request(AuditEventsDocument, { entityId: pm.id, first: 20 })).auditEvents.edges
      .map((e) => e.node)
      .filter((e) => e.action.startsWith('network_token.'));
    // Newest first; the ignored resume after the delete changed nothing and is not there.
    expect(events.map((e) => e.action)).toEqual([
      'network_token.deleted',
      'network_token.updated',
      'network_token.resumed',
      'network_token.suspended',
    ]);
    expect(events.every((e) => e.keyId === 'tsp:sandbox')).toBe(true);
  });

  it('re-issues a deleted network token when the card is tokenized again with networkTokenization', async () => {
    const m = await newMerchant();
    const number = uniqueVisa();
    const pm = await vaulted(m, { card: card(number), networkTokenization: { enable: true } });
    const before = (await tokens(m, pm.id)).networkToken!;
    await simulate(m, pm.id, 'DELETE');
    await vaulted(m, { card: card(number), networkTokenization: { enable: true } });
    const after = (await tokens(m, pm.id)).networkToken!;
    expect(after.status).toBe('ACTIVE');
    expect(after.tokenReferenceId).not.toBe(before.tokenReferenceId);
  });

  it('prefers the PSP token of the connector over the network token', async () => {
    const m = await newMerchant();
    const pm = await vaulted(m, {
      networkTokenization: { enable: true },
      pspTokenization: { tokenizationType: 'SINGLE_USE', connectorId: 'sandbox' },
    });
    expect((await payWith(m, pm.id)).instrument).toBe('PSP_TOKEN');
    expect((await payWith(m, pm.id)).instrument).toBe('NETWORK_TOKEN');
  });

  it('refuses a network the sandbox does not tokenize, storing nothing', async () => {
    const m = await newMerchant();
    const r = await tokenize(m, { card: card(JCB), networkTokenization: { enable: true } });
    expect(r).toMatchObject({ __typename: 'TokenizationFailedError', code: 'TOKENIZATION_FAILED' });
    expect(await countRows('payment_methods', m.merchantId)).toBe(0);
  });
});

describe('the network token webhook', () => {
  const url = () => `${base()}/webhooks/network-tokens/sandbox`;
  const secrets = () => {
    const ring = parseMasterKeys(TEST_MASTER_KEYS);
    return ring.ids.map((id) => createHmac('sha256', ring.get(id)!.reveal()).update('vault sandbox tsp webhook v1').digest());
  };
  const tsp = createSandboxTsp(secrets);
  const deliver = (body: string, signature?: string) =>
    fetch(url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(signature && { [SIGNATURE_HEADER]: signature }) },
      body,
    });

  async function withToken() {
    const m = await newMerchant();
    const pm = await vaulted(m, { networkTokenization: { enable: true } });
    return { m, pm, ref: (await tokens(m, pm.id)).networkToken!.tokenReferenceId };
  }

  it('refuses unsigned, wrongly signed and stale deliveries and changes nothing', async () => {
    const { m, pm, ref } = await withToken();
    const { body, signature } = tsp.signedEvent({ type: 'token.suspended', tokenReferenceId: ref });
    expect((await deliver(body)).status).toBe(401);
    // One hex digit of the MAC changed (to a different one, whatever it was).
    expect(
      (
        await deliver(
          body,
          signature.replace(/v1=(.)/, (_, c: string) => `v1=${c === '0' ? '1' : '0'}`),
        )
      ).status,
    ).toBe(401);
    expect((await deliver(body.replace('suspended', 'deleted'), signature)).status).toBe(401);
    const old = tsp.signedEvent({ type: 'token.suspended', tokenReferenceId: ref }, new Date(Date.now() - 10 * 60_000));
    expect((await deliver(old.body, old.signature)).status).toBe(401);
    expect((await tokens(m, pm.id)).networkToken!.status).toBe('ACTIVE');

    expect((await deliver(body, signature)).status).toBe(200);
    expect((await tokens(m, pm.id)).networkToken!.status).toBe('SUSPENDED');
  });

  it('answers 200 for a token it does not know, and ignores an event older than the last one applied', async () => {
    const { m, pm, ref } = await withToken();
    const unknown = tsp.signedEvent({ type: 'token.deleted', tokenReferenceId: 'sbxntr_nosuchtoken' });
    expect((await deliver(unknown.body, unknown.signature)).status).toBe(200);

    const suspended = tsp.signedEvent({ type: 'token.suspended', tokenReferenceId: ref });
    const earlier = tsp.signedEvent({ type: 'token.resumed', tokenReferenceId: ref }, new Date(Date.now() - 60_000));
    expect((await deliver(suspended.body, suspended.signature)).status).toBe(200);
    expect((await deliver(earlier.body, earlier.signature)).status).toBe(200);
    expect((await tokens(m, pm.id)).networkToken!.status).toBe('SUSPENDED');
  });

  it('answers 400 to a signed body that is not an event, 405 to other methods and 404 to unknown providers', async () => {
    const body = JSON.stringify({ hello: 'world' });
    const [secret] = secrets();
    const t = Math.floor(Date.now() / 1000);
    const signature = `t=${t},v1=${createHmac('sha256', secret!).update(`${t}.${body}`).digest('hex')}`;
    expect((await deliver(body, signature)).status).toBe(400);
    expect((await fetch(url())).status).toBe(405);
    expect((await fetch(`${base()}/webhooks/network-tokens/nosuchtsp`, { method: 'POST', body })).status).toBe(404);
  });
});
