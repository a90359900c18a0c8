import { describe, expect, it } from 'vitest';
import { clientFor, newMerchant, rawGraphQL, useDatabase, testApp } from '../helpers/vault.js';
import { CreateCardTokenDocument, PaymentMethodDocument, TokenizeCardDocument } from '../../packages/client/src/index.js';
import { sweepCardTokens } from '../../src/domain/cardTokens/cardTokens.js';
import { createVaultClient } from '../../packages/client/src/index.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { EXP_YEAR } from '../helpers/expiry.js';

const getDb = useDatabase();

async function token(publishableKey: string, card: Record<string, unknown> = {}) {
  const r = await clientFor(publishableKey).request(CreateCardTokenDocument, {
    input: { card: { number: '4242 4242 4242 4242', expMonth: 11, expYear: EXP_YEAR, cvc: '314', holderName: 'Tok Holder', ...card } },
  });
  if (r.createCardToken.__typename !== 'CreateCardTokenSuccess') throw new Error(JSON.stringify(r));
  return r.createCardToken.token;
}

describe('card tokens', () => {
  it('a publishable key creates a single-use tok_ valid 30 minutes, with the masked card', async () => {
    const m = await newMerchant();
    const before = Date.now();
    const t = await token(m.publishableKey);
    expect(t.id).toMatch(/^tok_[0-9A-Za-z]{22}$/);
    expect(t.used).toBe(false);
    expect(t.card).toMatchObject({
      bin: '424242',
      last4: '4242',
      brand: 'VISA',
      expMonth: 11,
      expYear: EXP_YEAR,
      holderName: 'Tok Holder',
    });
    const ttl = Date.parse(t.expiresAt) - before;
    expect(ttl).toBeGreaterThan(29 * 60_000);
    expect(ttl).toBeLessThanOrEqual(30 * 60_000 + 5_000);
    // Secret keys may create tokens too.
    const viaSecret = await m.client.request(CreateCardTokenDocument, {
      input: { card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } },
    });
    expect(viaSecret.createCardToken.__typename).toBe('CreateCardTokenSuccess');
  });

  it('validates the card like tokenizeCard, and changes nothing when it fails', async () => {
    const m = await newMerchant();
    const r = await clientFor(m.publishableKey).request(CreateCardTokenDocument, {
      input: { card: { number: '4242424242424241', expMonth: 11, expYear: EXP_YEAR, cvc: '31' } },
    });
    expect(r.createCardToken).toMatchObject({ __typename: 'ValidationError', code: 'INVALID_CARD_NUMBER' });
    expect(await getDb().prisma.cardToken.count({ where: { merchantId: m.merchantId } })).toBe(0);
  });

  it('tokenizeCard with a token vaults its card; a second use is TOKEN_ALREADY_USED; the CVC and number are destroyed', async () => {
    const m = await newMerchant();
    const t = await token(m.publishableKey);
    const first = await m.client.request(TokenizeCardDocument, { input: { token: t.id } });
    if (first.tokenizeCard.__typename !== 'TokenizeCardSuccess') throw new Error(JSON.stringify(first));
    expect(first.tokenizeCard.paymentMethod.card).toMatchObject({ last4: '4242', holderName: 'Tok Holder', expMonth: 11 });
    const second = await m.client.request(TokenizeCardDocument, { input: { token: t.id } });
    expect(second.tokenizeCard).toMatchObject({ __typename: 'TokenAlreadyUsedError', code: 'TOKEN_ALREADY_USED' });
    const row = await getDb().prisma.cardToken.findFirstOrThrow({ where: { merchantId: m.merchantId, id: t.id } });
    expect(row.usedAt).not.toBeNull();
    expect(row.cvc).toBeNull();
    expect(row.cardNumber).toBeNull();
    const read = await m.client.request(PaymentMethodDocument, { id: first.tokenizeCard.paymentMethod.id });
    expect(read.paymentMethod?.card?.last4).toBe('4242');
  });

  it('a refused tokenization leaves the token unspent: a network the token service refuses, then the same token without it', async () => {
    const m = await newMerchant();
    // JCB: the sandbox token service issues no network tokens for it (TOKENIZATION_FAILED).
    const t = await token(m.publishableKey, { number: '3530111333300000' });
    const refused = await m.client.request(TokenizeCardDocument, { input: { token: t.id, networkTokenization: { enable: true } } });
    expect(refused.tokenizeCard).toMatchObject({ __typename: 'TokenizationFailedError', code: 'TOKENIZATION_FAILED' });
    const row = await getDb().prisma.cardToken.findFirstOrThrow({ where: { merchantId: m.merchantId, id: t.id } });
    expect(row.usedAt).toBeNull();
    expect(row.cardNumber).not.toBeNull();
    expect(await getDb().prisma.paymentMethod.count({ where: { merchantId: m.merchantId } })).toBe(0);
    const retried = await m.client.request(TokenizeCardDocument, { input: { token: t.id } });
    expect(retried.tokenizeCard).toMatchObject({
      __typename: 'TokenizeCardSuccess',
      paymentMethod: { card: { brand: 'JCB', last4: '0000' } },
    });
    const again = await m.client.request(TokenizeCardDocument, { input: { token: t.id } });
    expect(again.tokenizeCard).toMatchObject({ __typename: 'TokenAlreadyUsedError' });
  });

  it('under concurrent use exactly one use succeeds', async () => {
    const m = await newMerchant();
    const t = await token(m.publishableKey, { number: '5555555555554444' });
    const results = await Promise.all(Array.from({ length: 10 }, () => m.client.request(TokenizeCardDocument, { input: { token: t.id } })));
    const kinds = results.map((r) => r.tokenizeCard.__typename);
    expect(kinds.filter((k) => k === 'TokenizeCardSuccess')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'TokenAlreadyUsedError')).toHaveLength(9);
  });

  it('across two server processes on one database, exactly one use succeeds', async () => {
    const second = await startServerProcess(inject('databaseUrl'), path.join(tmpdir(), `vault-second-${process.pid}.log`));
    try {
      const m = await newMerchant();
      const t = await token(m.publishableKey, { number: '378282246310005', cvc: '1234' });
      const other = createVaultClient({ url: second.url, apiKey: m.secretKey });
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => (i % 2 ? other : m.client).request(TokenizeCardDocument, { input: { token: t.id } })),
      );
      const kinds = results.map((r) => r.tokenizeCard.__typename);
      expect(kinds.filter((k) => k === 'TokenizeCardSuccess')).toHaveLength(1);
      expect(kinds.filter((k) => k === 'TokenAlreadyUsedError')).toHaveLength(11);
      expect(await getDb().prisma.paymentMethod.count({ where: { merchantId: m.merchantId } })).toBe(1);
    } finally {
      await stopProcess(second.child);
    }
  });

  it('a token past its expiry is TOKEN_EXPIRED, and the sweep destroys its CVC', async () => {
    const m = await newMerchant();
    const t = await token(m.publishableKey);
    // Drive the clock through the data: the token's 30 minutes are over.
    await getDb().prisma.cardToken.updateMany({
      where: { merchantId: m.merchantId, id: t.id },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    const r = await m.client.request(TokenizeCardDocument, { input: { token: t.id } });
    expect(r.tokenizeCard).toMatchObject({ __typename: 'TokenExpiredError', code: 'TOKEN_EXPIRED' });
    expect((await getDb().prisma.cardToken.findFirstOrThrow({ where: { id: t.id } })).cvc).not.toBeNull();
    const swept = await sweepCardTokens(testApp());
    expect(swept.destroyed).toBeGreaterThanOrEqual(1);
    const row = await getDb().prisma.cardToken.findFirstOrThrow({ where: { id: t.id } });
    expect([row.cvc, row.cardNumber]).toEqual([null, null]);
    // A week later the token itself goes.
    await sweepCardTokens(testApp(), new Date(Date.now() + 8 * 24 * 3600 * 1000));
    expect(await getDb().prisma.cardToken.count({ where: { id: t.id } })).toBe(0);
  });

  it("another tenant's token is NOT_FOUND, and a publishable key can do nothing else", async () => {
    const m = await newMerchant();
    const other = await newMerchant();
    const t = await token(m.publishableKey);
    const r = await other.client.request(TokenizeCardDocument, { input: { token: t.id } });
    expect(r.tokenizeCard).toMatchObject({ __typename: 'NotFoundError' });
    const pk = await rawGraphQL(
      { query: `mutation { tokenizeCard(input: { token: "${t.id}" }) { __typename } }` },
      { 'api-key': m.publishableKey },
    );
    expect(pk.json.errors[0].extensions.code).toBe('FORBIDDEN');
    expect((await getDb().prisma.cardToken.findFirstOrThrow({ where: { id: t.id } })).usedAt).toBeNull();
  });
});
