import { describe, expect, it } from 'vitest';
import { scrubLine } from '../../src/app/logger.js';
import { scrubText } from '../../src/card/scrub.js';
import {
  ibanAccountNumbers,
  abaChecksumValid,
  containsIban,
  ibanSpans,
  maskIbans,
  checkAchAccountNumber,
  checkBacsAccountNumber,
  checkBic,
  checkIban,
  checkRoutingNumber,
  checkSortCode,
} from '../../src/card/bankAccount.js';
import { bankAccountFingerprint, fingerprint } from '../../src/crypto/fingerprint.js';
import { Secret } from '../../src/crypto/secret.js';
import {
  bankAccountInputSchema,
  tokenizeBankAccountInputSchema,
  updatePaymentMethodInputSchema,
} from '../../src/domain/paymentMethods/inputs.js';
import { bankAccountRetainUntil } from '../../src/domain/paymentMethods/retention.js';
import { type FieldIssue, validate } from '../../src/domain/shared/inputSchemas.js';

const NOW = new Date('2026-11-30T10:00:00Z');
const IBAN_DE = 'DE89370400440532013000';
const IBAN_DE_SPACED = 'DE89 3704 0044 0532 0130 00';
const IBAN_FR = 'FR1420041010050500013M02606';
const IBAN_NL = 'NL91ABNA0417164300';

const parse = (input: unknown) => validate(bankAccountInputSchema, input, ['input', 'bankAccount'], { now: NOW });

function failures<T>(result: { ok: true; value: T } | { ok: false; fields: FieldIssue[] }): FieldIssue[] {
  if (result.ok) throw new Error('expected validation to fail');
  return result.fields;
}

function passed<T>(result: { ok: true; value: T } | { ok: false; fields: FieldIssue[] }): T {
  if (!result.ok) throw new Error(`expected validation to pass: ${JSON.stringify(result.fields)}`);
  return result.value;
}

const at = (fields: FieldIssue[]) => fields.map((f) => `${f.path.join('.')}:${f.code}`);

describe('IBAN (SEPA)', () => {
  it('knows the account number inside an IBAN, after its bank and branch identifiers, with and without leading zeros', () => {
    expect(ibanAccountNumbers('DE89 3704 0044 0532 0130 00')).toEqual(['0532013000', '532013000']);
    expect(ibanAccountNumbers('GB29NWBK60161331926819')).toEqual(['31926819']);
    expect(ibanAccountNumbers('NL91ABNA0417164300')).toEqual(['0417164300', '417164300']);
    // The national check key after the account: both.
    expect(ibanAccountNumbers('FR1420041010050500013M02606')).toEqual(['0500013M02606', '0500013M026']);
    expect(ibanAccountNumbers('ES9121000418450200051332')).toEqual(['450200051332', '0200051332', '200051332']);
    // ibantools names a wrong account for these: never a fragment of the identifiers, nor the whole IBAN.
    expect(ibanAccountNumbers('FI2112345600000785')).toEqual(['45600000785']);
    expect(ibanAccountNumbers('BE68539007547034')).toEqual(['007547034', '7547034']);
    expect(ibanAccountNumbers('PL61109010140000071219812874')).toEqual(['0000071219812874', '71219812874']);
    // Identifiers ibantools does not know, or not at the start: none (the whole BBAN is masked anyway).
    expect(ibanAccountNumbers('SK3112000000198742637541')).toEqual([]);
    expect(ibanAccountNumbers('IT60X0542811101000000123456')).toEqual([]);
    expect(ibanAccountNumbers('XX00123')).toEqual([]);
  });

  it('accepts valid IBANs, with or without spaces, in any case, and extracts country and bank identifier', () => {
    expect(checkIban(IBAN_DE)).toEqual({ ok: true, value: { iban: IBAN_DE, country: 'DE', bankCode: '37040044' } });
    expect(checkIban(IBAN_DE_SPACED)).toEqual(checkIban(IBAN_DE));
    expect(checkIban(IBAN_DE.toLowerCase())).toEqual(checkIban(IBAN_DE));
    expect(checkIban(IBAN_FR)).toMatchObject({ ok: true, value: { country: 'FR', bankCode: '20041' } });
    expect(checkIban(IBAN_NL)).toMatchObject({ ok: true, value: { country: 'NL', bankCode: 'ABNA' } });
  });

  it('refuses a bad mod-97 checksum', () => {
    expect(checkIban('DE89370400440532013001')).toEqual({ ok: false, message: 'The IBAN check digits do not match (ISO 13616 mod-97)' });
    expect(checkIban('DE88370400440532013000')).toMatchObject({ ok: false });
  });

  it("refuses the wrong length for the IBAN's country, naming the length", () => {
    expect(checkIban('DE8937040044053201300')).toEqual({ ok: false, message: 'Must have 22 characters for an IBAN of DE' });
    expect(checkIban('NL91ABNA04171643001')).toEqual({ ok: false, message: 'Must have 18 characters for an IBAN of NL' });
  });

  it('refuses unknown countries, non-SEPA countries and foreign characters', () => {
    expect(checkIban('XX89370400440532013000')).toMatchObject({ ok: false });
    expect(checkIban('BR1800360305000010009795493C1')).toEqual({ ok: false, message: 'SEPA takes IBANs of SEPA countries only' });
    expect(checkIban('DE89-3704-0044-0532-0130-00')).toMatchObject({ ok: false });
    expect(checkIban('')).toMatchObject({ ok: false });
  });

  it('never repeats the IBAN in a message', () => {
    for (const bad of ['DE89370400440532013001', 'DE8937040044053201300', 'XX89370400440532013000']) {
      const result = checkIban(bad);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).not.toContain(bad.slice(4));
    }
  });

  it('BIC: 8 or 11 characters, known country', () => {
    expect(checkBic('DEUTDEFF')).toEqual({ ok: true, value: 'DEUTDEFF' });
    expect(checkBic(' deutdeff500 ')).toEqual({ ok: true, value: 'DEUTDEFF500' });
    expect(checkBic('DEUTDEF')).toMatchObject({ ok: false });
    expect(checkBic('DEUTDEFF5')).toMatchObject({ ok: false });
    expect(checkBic('DEUTXXFF')).toMatchObject({ ok: false });
  });
});

describe('ACH', () => {
  it('routing numbers: 9 digits with the ABA checksum', () => {
    for (const good of ['011000015', '021000021', '110000000', '026009593']) expect(abaChecksumValid(good)).toBe(true);
    expect(abaChecksumValid('021000022')).toBe(false);
    expect(checkRoutingNumber('021000021')).toEqual({ ok: true, value: '021000021' });
    expect(checkRoutingNumber('021000022')).toEqual({ ok: false, message: 'The routing number fails the ABA checksum' });
    expect(checkRoutingNumber('02100002')).toEqual({ ok: false, message: 'A routing number has 9 digits' });
    expect(checkRoutingNumber('02100002a')).toMatchObject({ ok: false });
  });

  it('account numbers: 4 to 17 digits', () => {
    expect(checkAchAccountNumber('1234')).toMatchObject({ ok: true });
    expect(checkAchAccountNumber('12345678901234567')).toMatchObject({ ok: true });
    expect(checkAchAccountNumber('123')).toMatchObject({ ok: false });
    expect(checkAchAccountNumber('123456789012345678')).toMatchObject({ ok: false });
    expect(checkAchAccountNumber('12 34')).toMatchObject({ ok: false });
  });
});

describe('BACS', () => {
  it('sort codes: 6 digits, dashes allowed', () => {
    expect(checkSortCode('108800')).toEqual({ ok: true, value: '108800' });
    expect(checkSortCode('10-88-00')).toEqual({ ok: true, value: '108800' });
    expect(checkSortCode('10880')).toMatchObject({ ok: false });
    expect(checkSortCode('10-8800')).toMatchObject({ ok: false });
    expect(checkSortCode('1088000')).toMatchObject({ ok: false });
    expect(checkSortCode('10_88_00')).toMatchObject({ ok: false });
  });

  it('account numbers: 8 digits', () => {
    expect(checkBacsAccountNumber('00012345')).toMatchObject({ ok: true });
    expect(checkBacsAccountNumber('0001234')).toMatchObject({ ok: false });
    expect(checkBacsAccountNumber('000123456')).toMatchObject({ ok: false });
  });
});

describe('bankAccountInputSchema', () => {
  it('SEPA: normalises the IBAN into a Secret and shows country, bank code, BIC and last four', () => {
    const v = passed(
      parse({ scheme: 'SEPA', holderName: ' Ada Lovelace ', iban: IBAN_DE_SPACED, bic: 'deutdeff', accountType: 'CHECKING' }),
    );
    expect(v).toMatchObject({
      scheme: 'SEPA',
      holderName: 'Ada Lovelace',
      country: 'DE',
      bankCode: '37040044',
      bic: 'DEUTDEFF',
      last4: '3000',
      accountType: 'CHECKING',
    });
    expect(v.number).toBeInstanceOf(Secret);
    expect(v.number.reveal()).toBe(IBAN_DE);
    expect(JSON.stringify(v)).not.toContain('0532013000');
  });

  it('ACH: US, the routing number as bank code; BACS: GB, the sort code without dashes', () => {
    const ach = passed(parse({ scheme: 'ACH', holderName: 'A', routingNumber: '110000000', accountNumber: '000123456789' }));
    expect(ach).toMatchObject({ country: 'US', bankCode: '110000000', last4: '6789', bic: null, accountType: null });
    expect(ach.identity.reveal()).toBe('110000000:000123456789');
    const bacs = passed(parse({ scheme: 'BACS', holderName: 'A', sortCode: '10-88-00', accountNumber: '00012345' }));
    expect(bacs).toMatchObject({ country: 'GB', bankCode: '108800', last4: '2345' });
    expect(bacs.identity.reveal()).toBe('108800:00012345');
  });

  it('lists every failing field with INVALID_BANK_ACCOUNT, and fields of another scheme or missing ones as INVALID_INPUT', () => {
    expect(at(failures(parse({ scheme: 'ACH', holderName: 'A', routingNumber: '021000022', accountNumber: '12' })))).toEqual([
      'input.bankAccount.routingNumber:INVALID_BANK_ACCOUNT',
      'input.bankAccount.accountNumber:INVALID_BANK_ACCOUNT',
    ]);
    expect(at(failures(parse({ scheme: 'BACS', holderName: '', sortCode: '1088', accountNumber: '123' })))).toEqual([
      'input.bankAccount.holderName:INVALID_INPUT',
      'input.bankAccount.accountNumber:INVALID_BANK_ACCOUNT',
      'input.bankAccount.sortCode:INVALID_BANK_ACCOUNT',
    ]);
    expect(at(failures(parse({ scheme: 'SEPA', holderName: 'A', iban: 'DE89370400440532013001', bic: 'XX' })))).toEqual([
      'input.bankAccount.iban:INVALID_BANK_ACCOUNT',
      'input.bankAccount.bic:INVALID_BANK_ACCOUNT',
    ]);
    expect(at(failures(parse({ scheme: 'SEPA', holderName: 'A', routingNumber: '110000000' })))).toEqual([
      'input.bankAccount.iban:INVALID_INPUT',
      'input.bankAccount.routingNumber:INVALID_INPUT',
    ]);
    expect(at(failures(parse({ scheme: 'ACH', holderName: 'A' })))).toEqual([
      'input.bankAccount.routingNumber:INVALID_INPUT',
      'input.bankAccount.accountNumber:INVALID_INPUT',
    ]);
    expect(at(failures(parse({ scheme: 'CHEQUE', holderName: 'A' })))).toEqual(['input.bankAccount.scheme:INVALID_INPUT']);
  });

  it('the tokenize input nests it under bankAccount', () => {
    const result = validate(
      tokenizeBankAccountInputSchema,
      { bankAccount: { scheme: 'BACS', holderName: 'A', sortCode: '108800' } },
      ['input'],
      {
        now: NOW,
      },
    );
    expect(at(failures(result))).toEqual(['input.bankAccount.accountNumber:INVALID_INPUT']);
  });

  it('update input: expiry fields still parse (refused for a bank account by the domain, which knows the type)', () => {
    expect(validate(updatePaymentMethodInputSchema, { holderName: 'B' }, ['input'], { now: NOW }).ok).toBe(true);
  });
});

describe('bank account fingerprints', () => {
  const key = Buffer.alloc(32, 7);
  it('cover the scheme and the account, and never equal a card number fingerprint', () => {
    const account = new Secret('110000000:4242424242424242');
    expect(bankAccountFingerprint(key, 'ACH', account)).toBe(bankAccountFingerprint(key, 'ACH', new Secret('110000000:4242424242424242')));
    expect(bankAccountFingerprint(key, 'ACH', account)).not.toBe(bankAccountFingerprint(key, 'BACS', account));
    const digits = new Secret('4242424242424242');
    expect(bankAccountFingerprint(key, 'ACH', digits)).not.toBe(fingerprint(key, digits));
  });

  it('refuse an account that was not normalised', () => {
    expect(() => bankAccountFingerprint(key, 'SEPA', new Secret('de89 3704'))).toThrow();
  });
});

describe('bankAccountRetainUntil', () => {
  it('is 00:00 UTC on the first day of the month 14 months after the last use, plus extension', () => {
    expect(bankAccountRetainUntil(new Date('2026-11-30T23:59:59Z')).toISOString()).toBe('2028-01-01T00:00:00.000Z');
    expect(bankAccountRetainUntil(new Date('2026-01-01T00:00:00Z')).toISOString()).toBe('2027-03-01T00:00:00.000Z');
    expect(bankAccountRetainUntil(new Date('2026-11-30T10:00:00Z'), 6).toISOString()).toBe('2028-07-01T00:00:00.000Z');
  });
});

describe('the IBAN detector (logs and hygiene scans)', () => {
  it('finds IBANs whole, grouped by spaces, in lower case and followed by other words', () => {
    expect(ibanSpans(`iban=${IBAN_DE}`).map((s) => s.iban)).toEqual([IBAN_DE]);
    expect(ibanSpans(`"${IBAN_DE_SPACED} and more"`).map((s) => s.iban)).toEqual([IBAN_DE]);
    expect(ibanSpans(`${IBAN_NL.toLowerCase()},${IBAN_FR}`).map((s) => s.iban)).toEqual([IBAN_NL, IBAN_FR]);
  });

  it('ignores bad check digits, wrong lengths and ids that merely look alike', () => {
    expect(containsIban('DE89370400440532013001')).toBe(false);
    expect(containsIban('DE8937040044053201300')).toBe(false);
    expect(containsIban('pm_Ab12cDeFgHiJkLmNoPqRsT req-7f3e')).toBe(false);
  });

  it('masks IBANs to country and last four, in text and in log lines', () => {
    expect(maskIbans(`to ${IBAN_DE_SPACED}.`)).toBe('to DE****************3000.');
    expect(scrubText(`iban ${IBAN_NL}`)).not.toContain(IBAN_NL);
    const line = scrubLine(`${JSON.stringify({ msg: `paid from ${IBAN_FR} with 4111 1111 1111 1111` })}\n`);
    expect(line).not.toContain(IBAN_FR);
    expect(line).not.toContain('4111 1111 1111 1111');
    expect(JSON.parse(line).msg).toContain('2606');
  });
});

describe('the IBAN detector: runs and separators', () => {
  it('does not take the start of a longer run of letters and digits for an IBAN', () => {
    expect(containsIban(`${IBAN_NL}0000`)).toBe(false);
    expect(containsIban(`pm_${IBAN_NL}0000`)).toBe(false);
    expect(containsIban(`pm_${IBAN_DE}`)).toBe(true);
  });
});
