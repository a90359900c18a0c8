import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/crypto/secret.js';
import { sandboxConnector } from '../../src/integrations/connectors/sandbox.js';
import { fromUpstream } from '../../src/integrations/connectors/index.js';
import type { AuthorizeRequest, AuthorizeResult, PaymentSource } from '../../src/integrations/connectors/types.js';
import { normalizePanText } from '../../src/card/pan.js';
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
  const card: PaymentSource = {
    type: 'card',
    card: { number: new Secret('4000056655665556'), cvc: new Secret('737'), expMonth: 1, expYear: EXP_YEAR },
  };

  it('masks a card number or IBAN that the PSP echoes in its failure code or message, and keeps its reference and URL', () => {
    const kept = fromUpstream(
      {
        status: 'FAILED',
        reference: 'ch_12345',
        redirectUrl: 'https://psp.example/3ds?session=abc',
        failureCode: 'declined_4111111111111111',
        failureMessage: 'Card 4111 1111 1111 1111 declined; refund to DE89 3704 0044 0532 0130 00',
      },
      [],
    );
    expect(kept).toEqual({
      status: 'FAILED',
      reference: 'ch_12345',
      redirectUrl: 'https://psp.example/3ds?session=abc',
      failureCode: expect.not.stringMatching(/4111111111111111/),
      failureMessage: expect.not.stringMatching(/1111 1111|0532 0130/),
    });
    expect(kept.failureMessage).toMatch(/^Card \[PAN \*{4}1111\] declined; refund to /);
    expect(fromUpstream({ status: 'COMPLETED', reference: null }, [])).toEqual({ status: 'COMPLETED', reference: null });
  });

  it("masks the payment's own card wherever and however the PSP echoes it, and nothing else of its reference", () => {
    // A redirect URL whose digits happen to be the CVC stays usable; a decline quoting it does not keep it.
    const withCvc = fromUpstream(
      { status: 'REQUIRES_ACTION', reference: 'r', redirectUrl: 'https://psp.example/3ds?step=737', failureMessage: 'cvc 737 wrong' },
      [card],
    );
    expect(withCvc.redirectUrl).toBe('https://psp.example/3ds?step=737');
    expect(withCvc.failureMessage).not.toContain('737');
    // A numeric PSP reference that happens to be Luhn-valid (one in ten are) stays usable.
    expect(fromUpstream({ status: 'AUTHORIZED', reference: '4242424242424242' }, [card]).reference).toBe('4242424242424242');
    for (const echoed of [
      'ref-4000056655665556',
      `${'😀'.repeat(12)}4000056655665556`,
      'https://psp.example/3ds?pan=4000-0566-5566-5556',
      'https://psp.example/3ds?pan=4000%200566%205566%205556',
      'x?pan=%34%30%30%30%30%35%36%36%35%35%36%36%35%35%35%36',
      'ref-４０００ ０５６６ ５５６６ ５５５６',
      'p=4000&q=0566&r=5566&s=5556',
      `ref-${Buffer.from('4000056655665556').toString('base64')}`,
      '424000056655665556665556',
    ]) {
      const kept = fromUpstream({ status: 'REQUIRES_ACTION', reference: echoed, redirectUrl: echoed, failureMessage: `card ${echoed}` }, [
        card,
      ]);
      expect(kept.reference, echoed).not.toBe(echoed);
      expect(kept.redirectUrl, echoed).not.toBe(echoed);
      for (const field of [kept.reference, kept.redirectUrl, kept.failureMessage]) {
        // At most the first six and last four digits are left (what PCI DSS allows to be shown).
        expect(normalizePanText(field!).replace(/\D/g, ''), `${echoed} → ${field}`).not.toContain('665566');
        expect(field).not.toContain('NjY1NTY2');
      }
    }
    // Overlapping occurrences of a periodic number: none is left whole.
    const periodic: PaymentSource = { type: 'card', card: { number: new Secret('4242424242424242'), expMonth: 1, expYear: EXP_YEAR } };
    expect(fromUpstream({ status: 'AUTHORIZED', reference: '42424242424242424242' }, [periodic]).reference).not.toMatch(/4242424242424242/);
  });

  it('masks the card behind a PSP or network token, the token itself and the cryptogram', () => {
    const token: PaymentSource = { type: 'psp_token', token: 'sbxtok_a1b2c3d4e5' };
    const network: PaymentSource = {
      type: 'network_token',
      networkToken: {
        number: new Secret('4895370012003478'),
        expMonth: 1,
        expYear: EXP_YEAR,
        cryptogram: 'AgAAAAAAAIR8CQrXcIhbQAAAAAA=',
        eci: '05',
      },
    };
    const kept = fromUpstream(
      {
        status: 'FAILED',
        reference: 'ref_4000056655665556_sbxtok_a1b2c3d4e5',
        failureMessage: 'token 4895370012003478 cryptogram AgAAAAAAAIR8CQrXcIhbQAAAAAA= card 4000056655665556',
      },
      [token, network, card],
    );
    expect(JSON.stringify(kept)).not.toMatch(/0566556655|sbxtok_a1b2c3d4e5|370012003|AgAAAAAAAIR8CQrXcIhbQAAAAAA=/);
  });

  it('masks an account number only where it stands whole, and keeps other digits of the reference', () => {
    const account: PaymentSource = {
      type: 'bank_account',
      bankAccount: {
        scheme: 'ACH',
        number: new Secret('123456'),
        bankCode: '110000000',
        country: 'US',
        bic: null,
        holderName: null,
        accountType: null,
      },
    };
    expect(fromUpstream({ status: 'AUTHORIZED', reference: 'pi_2026_12_3456_01' }, [account]).reference).toBe('pi_2026_12_3456_01');
    expect(fromUpstream({ status: 'FAILED', reference: 'ach_123456', failureCode: 'acct_123456_closed' }, [account])).toMatchObject({
      reference: 'ach_***',
      failureCode: 'acct_***_closed',
    });
    const iban: PaymentSource = {
      type: 'bank_account',
      bankAccount: {
        scheme: 'SEPA',
        number: new Secret('DE89370400440532013000'),
        bankCode: '37040044',
        country: 'DE',
        bic: null,
        holderName: null,
        accountType: null,
      },
    };
    expect(fromUpstream({ status: 'AUTHORIZED', reference: 'sepa-DE89370400440532013000' }, [iban]).reference).not.toMatch(/0532013000/);
    // The domestic part written apart (bank code, account number): its digits stand together all the same.
    const domestic = fromUpstream(
      { status: 'FAILED', reference: 'blz-37040044-kto-0532013000', failureMessage: 'kto 0532013000 blz 37040044' },
      [iban],
    );
    expect(domestic.reference).not.toMatch(/0532013/);
    // The account number in another order than the IBAN's (after the bank code, or without it) is masked too.
    expect(domestic.failureMessage).not.toMatch(/0532013/);
    expect(domestic.failureMessage).toContain('37040044'); // the bank code is no secret
    expect(fromUpstream({ status: 'FAILED', reference: null, failureMessage: 'konto 532013000 gesperrt' }, [iban]).failureMessage).toBe(
      'konto *** gesperrt',
    );
    const uk: PaymentSource = {
      type: 'bank_account',
      bankAccount: { ...iban.bankAccount, number: new Secret('GB29 NWBK 6016 1331 9268 19'), bankCode: 'NWBK', country: 'GB' },
    };
    const sortCode = fromUpstream({ status: 'FAILED', reference: null, failureMessage: 'account 31926819, sort code 60-16-13' }, [uk]);
    expect(sortCode.failureMessage).not.toMatch(/31926819/);
  });

  it('keeps an answer that breaks the type rather than failing a payment the PSP authorized, and bounds its free text', () => {
    const broken = { status: 'AUTHORIZED', redirectUrl: null, failureCode: 42 } as unknown as AuthorizeResult;
    expect(fromUpstream(broken, [card])).toEqual({ status: 'AUTHORIZED', reference: null });
    const huge = fromUpstream({ status: 'FAILED', reference: null, failureMessage: `${'declined '.repeat(200_000)}4000056655665556` }, [
      card,
    ]);
    expect(huge.failureMessage!.length).toBeLessThanOrEqual(2_001);
  });
});
