import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/crypto/secret.js';
import { sandboxConnector } from '../../src/integrations/connectors/sandbox.js';
import { fromUpstream } from '../../src/integrations/connectors/index.js';
import type { AuthorizeRequest, PaymentSource } from '../../src/integrations/connectors/types.js';
import { createSandboxTsp, verifySandboxCryptogram } from '../../src/integrations/tokenServices/sandbox.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// The sandbox PSP and token service provider on their own: what the end-to-end tests rely on.
const tsp = createSandboxTsp(() => [Buffer.alloc(32, 1)]);

const request = (source: PaymentSource): AuthorizeRequest => ({
  paymentId: 'pay_test',
  amount: 100,
  currency: 'EUR',
  captureMethod: 'AUTOMATIC',
  initiator: 'CUSTOMER',
  source,
  challenge: { baseUrl: 'http://vault.test', secret: 's' },
});

describe('sandbox connector and token service provider', () => {
  it('accepts a network token only with a cryptogram the sandbox TSP made for that token', async () => {
    const token = await tsp.provision({
      paymentMethodId: 'pm_x',
      card: { number: new Secret('4242424242424242'), expMonth: 1, expYear: EXP_YEAR, brand: 'VISA' },
    });
    const { cryptogram, eci } = await tsp.cryptogram({
      tokenReferenceId: token.tokenReferenceId,
      number: token.number,
      amount: 100,
      currency: 'EUR',
    });
    const networkToken = { number: token.number, expMonth: token.expMonth, expYear: token.expYear, cryptogram, eci };
    expect(verifySandboxCryptogram(token.number.reveal(), cryptogram)).toBe(true);
    expect(await sandboxConnector.authorize(request({ type: 'network_token', networkToken }))).toMatchObject({ status: 'COMPLETED' });

    const forged = Buffer.from(cryptogram, 'base64');
    forged[19]! ^= 1;
    expect(
      await sandboxConnector.authorize(
        request({ type: 'network_token', networkToken: { ...networkToken, cryptogram: forged.toString('base64') } }),
      ),
    ).toMatchObject({
      status: 'FAILED',
      failureCode: 'invalid_cryptogram',
    });
    const other = await tsp.provision({
      paymentMethodId: 'pm_y',
      card: { number: new Secret('4242424242424242'), expMonth: 1, expYear: EXP_YEAR, brand: 'VISA' },
    });
    expect(verifySandboxCryptogram(other.number.reveal(), cryptogram)).toBe(false);
  });

  it("issues PSP tokens that keep the card's answer and refuses tokens it did not issue", async () => {
    const card = (number: string) => ({ number: new Secret(number), expMonth: 1, expYear: EXP_YEAR });
    const declined = await sandboxConnector.tokenize!({
      paymentMethodId: 'pm_x',
      card: card('4000000000000002'),
      tokenizationType: 'SINGLE_USE',
    });
    expect(declined.token).not.toContain('0002');
    expect(await sandboxConnector.authorize(request({ type: 'psp_token', token: declined.token }))).toMatchObject({
      status: 'FAILED',
      failureCode: 'card_declined',
    });
    const challenged = await sandboxConnector.tokenize!({
      paymentMethodId: 'pm_x',
      card: card('4000002500003155'),
      tokenizationType: 'MULTI_USE',
    });
    expect(await sandboxConnector.authorize(request({ type: 'psp_token', token: challenged.token }))).toMatchObject({
      status: 'REQUIRES_ACTION',
    });
    expect(await sandboxConnector.authorize(request({ type: 'psp_token', token: 'acme_tok_1' }))).toMatchObject({
      status: 'FAILED',
      failureCode: 'invalid_token',
    });
  });

  it('issues network token numbers in the network token range, Luhn-valid, never with the card last4', async () => {
    for (let i = 0; i < 50; i++) {
      const t = await tsp.provision({
        paymentMethodId: 'pm_x',
        card: { number: new Secret('5555555555554444'), expMonth: 1, expYear: EXP_YEAR, brand: 'MASTERCARD' },
      });
      expect(t.number.reveal()).toMatch(/^522182\d{10}$/);
      expect(t.last4).toBe(t.number.reveal().slice(-4));
      expect(t.last4).not.toBe('4444');
    }
    await expect(
      tsp.provision({
        paymentMethodId: 'pm_x',
        card: { number: new Secret('3530111333300000'), expMonth: 1, expYear: EXP_YEAR, brand: 'JCB' },
      }),
    ).rejects.toMatchObject({
      code: 'TOKENIZATION_FAILED',
    });
  });

  it('answers a bank account by its last four digits, never with a challenge', async () => {
    const account = (number: string) =>
      ({
        type: 'bank_account',
        bankAccount: {
          scheme: 'SEPA',
          number: new Secret(number),
          bankCode: null,
          country: 'DE',
          bic: null,
          holderName: 'A',
          accountType: null,
        },
      }) as const;
    expect(await sandboxConnector.authorize(request(account('000123450002')))).toMatchObject({
      status: 'FAILED',
      failureCode: 'account_closed',
    });
    expect(await sandboxConnector.authorize(request(account('000123459995')))).toMatchObject({
      status: 'FAILED',
      failureCode: 'insufficient_funds',
    });
    expect(await sandboxConnector.authorize(request(account('4000002500003155')))).toMatchObject({ status: 'COMPLETED' });
    expect(await sandboxConnector.authorize({ ...request(account('DE89370400440532013000')), captureMethod: 'MANUAL' })).toMatchObject({
      status: 'AUTHORIZED',
    });
  });
});

describe("what the vault keeps of a connector's answer", () => {
  it('masks a card number or IBAN that the PSP echoes in its failure code or message, and keeps its reference and URL', () => {
    const kept = fromUpstream({
      status: 'FAILED',
      reference: 'ch_12345',
      redirectUrl: 'https://psp.example/3ds?session=abc',
      failureCode: 'declined_4111111111111111',
      failureMessage: 'Card 4111 1111 1111 1111 declined; refund to DE89 3704 0044 0532 0130 00',
    });
    expect(kept).toEqual({
      status: 'FAILED',
      reference: 'ch_12345',
      redirectUrl: 'https://psp.example/3ds?session=abc',
      failureCode: expect.not.stringMatching(/4111111111111111/),
      failureMessage: expect.not.stringMatching(/1111 1111|0532 0130/),
    });
    expect(kept.failureMessage).toMatch(/^Card \[PAN \*{4}1111\] declined; refund to /);
    expect(fromUpstream({ status: 'COMPLETED', reference: null })).toEqual({ status: 'COMPLETED', reference: null });
  });

  it("masks the payment's own card or account number wherever the PSP echoes it, and nothing else of its reference", () => {
    const card: PaymentSource = { type: 'card', card: { number: new Secret('4000056655665556'), expMonth: 1, expYear: EXP_YEAR } };
    // A numeric PSP reference that happens to be Luhn-valid (one in ten are) stays usable.
    expect(fromUpstream({ status: 'AUTHORIZED', reference: '4242424242424242' }, card).reference).toBe('4242424242424242');
    const echoed = fromUpstream(
      {
        status: 'REQUIRES_ACTION',
        reference: 'ref-4000056655665556',
        redirectUrl: 'https://psp.example/3ds?pan=4000-0566-5566-5556',
        failureMessage: 'card 4000 0566 5566 5556',
      },
      card,
    );
    expect(echoed.reference).toBe('ref-************5556');
    expect(echoed.redirectUrl).toBe('https://psp.example/3ds?pan=****-****-****-5556');
    expect(JSON.stringify(echoed)).not.toMatch(/0566/);
    const account: PaymentSource = {
      type: 'bank_account',
      bankAccount: {
        scheme: 'ACH',
        number: new Secret('000123456789'),
        bankCode: '110000000',
        country: 'US',
        bic: null,
        holderName: null,
        accountType: null,
      },
    };
    expect(
      fromUpstream({ status: 'FAILED', reference: 'ach_000123456789', failureCode: 'acct_000123456789_closed' }, account),
    ).toMatchObject({
      reference: 'ach_********6789',
      failureCode: 'acct_********6789_closed',
    });
  });
});
