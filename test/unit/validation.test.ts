import { describe, expect, it } from 'vitest';
import {
  bin,
  brandLengths,
  type CardBrand,
  checkCardNumber,
  cvcLengths,
  detectBrand,
  last4,
  luhnValid,
  normalizeCardNumber,
} from '../../src/card/number.js';
import { Secret } from '../../src/crypto/secret.js';
import { containsCardNumber } from '../../src/card/pan.js';
import { COUNTRY_CODES, isCountryCode } from '../../src/card/countries.js';
import { expiryIssues, fullExpYear, isExpired } from '../../src/card/expiry.js';
import { createCustomerInputSchema, updateCustomerInputSchema } from '../../src/domain/customers/inputs.js';
import {
  extendRetentionMonthsSchema,
  tokenizeCardInputSchema,
  updatePaymentMethodInputSchema,
} from '../../src/domain/paymentMethods/inputs.js';
import { addressInputSchema, cardInputSchema, type FieldIssue, metadataSchema, validate } from '../../src/domain/shared/inputSchemas.js';

const NOW = new Date('2026-11-21T10:00:00Z');

function card(overrides: Record<string, unknown> = {}) {
  return { number: '4111 1111 1111 1111', expMonth: 12, expYear: 2028, cvc: '123', ...overrides };
}

function validateCard(input: unknown, now = NOW) {
  return validate(cardInputSchema, input, ['input', 'card'], { now });
}

/** The field issues of a failed validation (fails the test if validation succeeded). */
function failures<T>(result: { ok: true; value: T } | { ok: false; fields: FieldIssue[] }): FieldIssue[] {
  if (result.ok) throw new Error('expected validation to fail');
  return result.fields;
}

function passedValue<T>(result: { ok: true; value: T } | { ok: false; fields: FieldIssue[] }): T {
  if (!result.ok) throw new Error(`expected validation to pass: ${JSON.stringify(result.fields)}`);
  return result.value;
}

const codesAt = (fields: FieldIssue[], path: string[]) => fields.filter((f) => f.path.join('.') === path.join('.')).map((f) => f.code);

describe('normalizeCardNumber', () => {
  it('accepts spaces and dashes as separators and surrounding whitespace', () => {
    expect(normalizeCardNumber('4111 1111 1111 1111')).toBe('4111111111111111');
    expect(normalizeCardNumber('4111-1111-1111-1111')).toBe('4111111111111111');
    expect(normalizeCardNumber('3782 822463 10005')).toBe('378282246310005');
    expect(normalizeCardNumber('  4111111111111111\t')).toBe('4111111111111111');
  });

  it('refuses letters, other punctuation, dangling separators and empty input', () => {
    for (const raw of [
      '4111 1111 1111 111a',
      '4111.1111.1111.1111',
      '4111_1111',
      '-4111111111111111',
      '4111111111111111-',
      '',
      '  ',
      '４１１１',
    ]) {
      expect(normalizeCardNumber(raw), raw).toBeNull();
    }
  });

  it('reads a padded number whatever its padding, and answers an over-long one by its length', () => {
    const padded = `${' '.repeat(300)}4111 1111 1111 1111\n`;
    expect(normalizeCardNumber(padded)).toBe('4111111111111111');
    expect(checkCardNumber(padded)).toMatchObject({ ok: true, digits: '4111111111111111' });
    expect(checkCardNumber('4'.repeat(101))).toEqual({ ok: false, message: 'Card number is too long: at most 100 characters' });
    expect(checkCardNumber('4111 '.repeat(30))).toEqual({ ok: false, message: 'Card number is too long: at most 100 characters' });
    expect(checkCardNumber('4'.repeat(20))).toEqual({ ok: false, message: 'Card number must have 12 to 19 digits' });
  });
});

describe('luhnValid', () => {
  it('accepts known valid numbers', () => {
    for (const n of [
      '4111111111111111',
      '4242424242424242',
      '5555555555554444',
      '378282246310005',
      '6011111111111117',
      '4111111145551142',
    ]) {
      expect(luhnValid(n), n).toBe(true);
    }
  });

  it('refuses numbers with a wrong check digit or non-digits', () => {
    for (const n of ['4111111111111112', '4242424242424241', '378282246310006', '1234567812345678', '41111111111111x1', '']) {
      expect(luhnValid(n), n).toBe(false);
    }
  });
});

describe('detectBrand', () => {
  const samples: Record<CardBrand, string[]> = {
    VISA: ['4111111111111111', '4242424242424242', '4222222222222'], // detected whatever the length
    MASTERCARD: ['5555555555554444', '5100000000000008', '2223003122003222', '2720999999999996'],
    AMEX: ['378282246310005', '371449635398431', '340000000000009'],
    DISCOVER: ['6011111111111117', '6445644564456445', '6500340000000002'],
    DINERS_CLUB: ['36227206271667', '3056930009020004', '30000000000004', '3841000000000007'],
    JCB: ['3566002020360505', '3528000000000007', '3589000000000003'],
    UNIONPAY: ['6200000000000005', '6221250000000001', '6221260000000000', '8171999927660000'],
    MAESTRO: ['6759649826438453', '500000000009', '5720000000000008', '6390000000000005', '5067790000000005'],
    MIR: ['2200000000000004', '2204000000000000'],
    ELO: ['6362970000457013', '5066991111111118', '4011780000000006', '6500310000000005', '5041750000000000'],
    HIPERCARD: ['6062826786276634', '6370950000000005', '6062826786276634003'],
    UNKNOWN: ['9999999999999995', '2721000000000004', '3527000000000008', '2220999999999991', '30950000000000'],
  };

  it.each(Object.entries(samples))('detects %s', (brand, numbers) => {
    for (const n of numbers) {
      expect(luhnValid(n), `${n} should be Luhn-valid`).toBe(true);
      expect(detectBrand(n), n).toBe(brand);
    }
  });

  it('covers every brand', () => {
    const all: CardBrand[] = [
      'VISA',
      'MASTERCARD',
      'AMEX',
      'DISCOVER',
      'DINERS_CLUB',
      'JCB',
      'UNIONPAY',
      'MAESTRO',
      'MIR',
      'ELO',
      'HIPERCARD',
      'UNKNOWN',
    ];
    expect(Object.keys(samples).sort()).toEqual([...all].sort());
  });

  it('lets the more specific range win', () => {
    expect(detectBrand('4011780000000006')).toBe('ELO'); // Elo inside Visa's 4
    expect(detectBrand('4389350000000002')).toBe('ELO');
    expect(detectBrand('6500310000000005')).toBe('ELO'); // Elo inside Discover's 65
    expect(detectBrand('6550210000000006')).toBe('ELO');
    expect(detectBrand('6550200000000007')).toBe('DISCOVER'); // the gap between two Elo ranges
    expect(detectBrand('6500300000000006')).toBe('DISCOVER');
    expect(detectBrand('6277800000000006')).toBe('ELO'); // Elo inside UnionPay's 62
    expect(detectBrand('5099990000000003')).toBe('ELO'); // Elo inside Maestro's 50
    expect(detectBrand('5067780000000006')).toBe('ELO');
    expect(detectBrand('6062820000000003')).toBe('HIPERCARD'); // Hipercard inside Maestro's 6
    expect(detectBrand('6221260000000000')).toBe('UNIONPAY'); // credit-card-type gives Discover no 622 range
  });
});

describe('lengths and helpers', () => {
  it('lists allowed lengths per brand', () => {
    // credit-card-type 10.3's lengths (src/card/brands.ts reads them from the package).
    expect(brandLengths('VISA')).toEqual([16, 18, 19]);
    expect(brandLengths('AMEX')).toEqual([15]);
    expect(brandLengths('MASTERCARD')).toEqual([16]);
    expect(brandLengths('DINERS_CLUB')).toEqual([14, 16, 19]);
    expect(brandLengths('ELO')).toEqual([16]);
    expect(brandLengths('HIPERCARD')).toEqual([16]);
    expect(brandLengths('UNKNOWN')).toEqual([12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('gives 4-digit CVCs to Amex only', () => {
    expect(cvcLengths('AMEX')).toEqual([4]);
    expect(cvcLengths('VISA')).toEqual([3]);
    expect(cvcLengths('UNKNOWN')).toEqual([3]);
  });

  it('extracts bin and last4', () => {
    expect(bin('4111111145551142')).toBe('411111');
    expect(last4('4111111145551142')).toBe('1142');
  });
});

describe('cardInputSchema: number', () => {
  it('normalizes the number and derives brand, bin and last4', () => {
    const value = passedValue(validateCard(card({ number: ' 3782-822463-10005 ', cvc: '1234' })));
    expect(value).toMatchObject({ brand: 'AMEX', bin: '378282', last4: '0005' });
    // The number and the CVC leave the schema wrapped: they redact themselves wherever they are printed.
    expect(value.number).toBeInstanceOf(Secret);
    expect(value.number.reveal()).toBe('378282246310005');
    expect(value.cvc?.reveal()).toBe('1234');
  });

  it.each([
    ['letters', '4111 1111 1111 111a'],
    ['Luhn failure', '4111111111111112'],
    ['11 digits', '41111111112'],
    ['20 digits', '41111111111111111115'],
    ['Visa with 14 digits', '41111111111114'],
    ['Visa with 15 digits', '411111111111116'],
    ['Amex with 16 digits', '3782822463100052'],
    ['Mastercard with 19 digits', '5555555555554444000'],
    ['Elo with 19 digits', '6500310000000000008'],
    ['Visa with 13 digits', '4222222222222'],
    ['Hipercard with 19 digits', '6062826786276634003'],
    ['empty', ''],
  ])('refuses %s as INVALID_CARD_NUMBER', (_label, number) => {
    const fields = failures(validateCard(card({ number })));
    expect(fields).toEqual([{ path: ['input', 'card', 'number'], code: 'INVALID_CARD_NUMBER', message: expect.any(String) }]);
  });

  it('accepts every allowed length of a brand', () => {
    for (const number of ['4111111111111111', '411111111111111118', '4111111111111111110', '500000000009', '6062826786276634']) {
      expect(validateCard(card({ number })).ok, number).toBe(true);
    }
  });

  it('refuses a number that is not a string as INVALID_INPUT', () => {
    expect(failures(validateCard(card({ number: 4111111111111111 })))).toEqual([
      { path: ['input', 'card', 'number'], code: 'INVALID_INPUT', message: 'Must be a string' },
    ]);
  });
});

describe('expiry', () => {
  it('reads two-digit years as 20yy and keeps four-digit years', () => {
    expect(fullExpYear(25)).toBe(2025);
    expect(fullExpYear(0)).toBe(2000);
    expect(fullExpYear(2031)).toBe(2031);
    expect(passedValue(validateCard(card({ expMonth: 1, expYear: 27 }))).expYear).toBe(2027);
    expect(passedValue(validateCard(card({ expMonth: 1, expYear: 2027 }))).expYear).toBe(2027);
  });

  it.each([0, 13, -1])('refuses month %i as INVALID_EXPIRY on expMonth', (expMonth) => {
    expect(failures(validateCard(card({ expMonth })))).toEqual([
      { path: ['input', 'card', 'expMonth'], code: 'INVALID_EXPIRY', message: expect.any(String) },
    ]);
  });

  it.each([1999, 100, 2077, 99])('refuses year %i as INVALID_EXPIRY on expYear', (expYear) => {
    expect(failures(validateCard(card({ expYear })))).toEqual([
      { path: ['input', 'card', 'expYear'], code: 'INVALID_EXPIRY', message: expect.any(String) },
    ]);
  });

  it('reports the seed card expiring 10/25 as CARD_EXPIRED on 2026-11-21', () => {
    const fields = failures(validateCard({ number: '4111111145551142', expMonth: 10, expYear: 25, cvc: '123' }));
    expect(fields).toEqual([{ path: ['input', 'card', 'expMonth'], code: 'CARD_EXPIRED', message: expect.any(String) }]);
  });

  it('keeps a card valid through the end of its expiry month (UTC)', () => {
    expect(validateCard(card({ expMonth: 11, expYear: 26 })).ok).toBe(true);
    expect(validateCard(card({ expMonth: 11, expYear: 26 }), new Date('2026-11-30T23:59:59.999Z')).ok).toBe(true);
    expect(validateCard(card({ expMonth: 11, expYear: 26 }), new Date('2026-12-01T01:30:00+02:00')).ok).toBe(true);
    expect(
      codesAt(failures(validateCard(card({ expMonth: 11, expYear: 26 }), new Date('2026-12-01T00:00:00Z'))), ['input', 'card', 'expMonth']),
    ).toEqual(['CARD_EXPIRED']);
    expect(isExpired(11, 2026, NOW)).toBe(false);
    expect(isExpired(10, 2026, NOW)).toBe(true);
    expect(isExpired(1, 2027, NOW)).toBe(false);
  });

  it('still checks the month when the year is unusable', () => {
    expect(expiryIssues(13, undefined, NOW)).toEqual([{ field: 'expMonth', code: 'INVALID_EXPIRY', message: expect.any(String) }]);
    expect(expiryIssues(undefined, 1990, NOW)).toEqual([{ field: 'expYear', code: 'INVALID_EXPIRY', message: expect.any(String) }]);
  });
});

describe('cardInputSchema: CVC', () => {
  it('wants 3 digits for Visa and 4 for Amex', () => {
    expect(validateCard(card({ cvc: '123' })).ok).toBe(true);
    expect(codesAt(failures(validateCard(card({ cvc: '1234' }))), ['input', 'card', 'cvc'])).toEqual(['INVALID_CVC']);
    const amex = { number: '378282246310005' };
    expect(validateCard(card({ ...amex, cvc: '1234' })).ok).toBe(true);
    expect(codesAt(failures(validateCard(card({ ...amex, cvc: '123' }))), ['input', 'card', 'cvc'])).toEqual(['INVALID_CVC']);
  });

  it('refuses non-digit CVCs, and treats a missing or blank CVC as absent', () => {
    expect(codesAt(failures(validateCard(card({ cvc: '12a' }))), ['input', 'card', 'cvc'])).toEqual(['INVALID_CVC']);
    expect(codesAt(failures(validateCard(card({ cvc: '12' }))), ['input', 'card', 'cvc'])).toEqual(['INVALID_CVC']);
    expect(passedValue(validateCard(card({ cvc: null }))).cvc).toBeUndefined();
    expect(passedValue(validateCard(card({ cvc: '  ' }))).cvc).toBeUndefined();
    expect(passedValue(validateCard(card({ cvc: undefined }))).cvc).toBeUndefined();
  });

  it('still checks the CVC format when the number is invalid', () => {
    const bad = failures(validateCard(card({ number: '4111111111111112', cvc: '12' })));
    expect(bad.map((f) => [f.path.at(-1), f.code])).toEqual([
      ['number', 'INVALID_CARD_NUMBER'],
      ['cvc', 'INVALID_CVC'],
    ]);
    // 4 digits is a plausible CVC when the brand is unknown
    const fields = failures(validateCard(card({ number: '4111111111111112', cvc: '1234' })));
    expect(fields.map((f) => f.code)).toEqual(['INVALID_CARD_NUMBER']);
  });
});

describe('cardInputSchema: other fields', () => {
  it('trims strings, drops blanks and nulls, and upper-cases the country', () => {
    const value = passedValue(
      validateCard(card({ holderName: '  Ada Lovelace ', nickName: ' ', issuer: null, issuingCountry: 'sg', cardType: 'DEBIT' })),
    );
    expect({ ...value, number: value.number.reveal(), cvc: value.cvc?.reveal() }).toEqual({
      number: '4111111111111111',
      brand: 'VISA',
      bin: '411111',
      last4: '1111',
      expMonth: 12,
      expYear: 2028,
      cvc: '123',
      holderName: 'Ada Lovelace',
      nickName: undefined,
      issuer: undefined,
      issuingCountry: 'SG',
      cardType: 'DEBIT',
    });
  });

  it('lists every bad field at once, with full paths', () => {
    const fields = failures(
      validateCard({
        number: '4111 1111 1111 1112',
        expMonth: 13,
        expYear: 1999,
        cvc: 'abc',
        holderName: 'x'.repeat(101),
        nickName: 'tab\there',
        issuingCountry: 'XX',
        cardType: 'CHARGE',
      }),
    );
    expect(fields.map((f) => [f.path.join('.'), f.code]).sort()).toEqual(
      [
        ['input.card.number', 'INVALID_CARD_NUMBER'],
        ['input.card.expMonth', 'INVALID_EXPIRY'],
        ['input.card.expYear', 'INVALID_EXPIRY'],
        ['input.card.cvc', 'INVALID_CVC'],
        ['input.card.holderName', 'INVALID_INPUT'],
        ['input.card.nickName', 'INVALID_INPUT'],
        ['input.card.issuingCountry', 'INVALID_INPUT'],
        ['input.card.cardType', 'INVALID_INPUT'],
      ].sort(),
    );
    for (const f of fields) expect(f.message.length).toBeGreaterThan(0);
  });

  it('checks the number even when other fields have the wrong type', () => {
    const fields = failures(validateCard({ number: '4111111111111112', expMonth: 'x', expYear: 1.5 }));
    expect(fields.map((f) => [f.path.at(-1), f.code])).toEqual([
      ['number', 'INVALID_CARD_NUMBER'],
      ['expMonth', 'INVALID_INPUT'],
      ['expYear', 'INVALID_INPUT'],
    ]);
  });

  it('refuses a non-object input at the base path', () => {
    expect(failures(validateCard('4111111111111111'))).toEqual([
      { path: ['input', 'card'], code: 'INVALID_INPUT', message: 'Must be an object' },
    ]);
  });
});

describe('messages never echo the input', () => {
  /** Every string in the input (numbers such as expMonth are left out: messages may state limits like 12). */
  function stringLeaves(value: unknown): string[] {
    if (typeof value === 'string') return [value.trim()];
    if (value && typeof value === 'object') return Object.values(value).flatMap(stringLeaves);
    return [];
  }

  const cases: Array<[string, unknown]> = [
    ['Luhn failure', card({ number: '4111 1111 1111 1112', cvc: '987' })],
    ['letters', card({ number: '4111-1111-1111-11x1', cvc: '9x7' })],
    ['too short', card({ number: '411111111', cvc: '98765' })],
    ['too long', card({ number: '41111111111111111115', cvc: '98' })],
    ['bad Visa length', card({ number: '41111111111114', cvc: '9876' })],
    ['bad Amex length', card({ number: '3782822463100052', cvc: '987' })],
    ['Amex CVC', card({ number: '378282246310005', cvc: '987' })],
    ['Visa CVC', card({ number: '4242424242424242', cvc: '9876' })],
    ['expired', { number: '4111111145551142', expMonth: 10, expYear: 25, cvc: '987' }],
    ['bad expiry', card({ number: '5555555555554444', expMonth: 13, expYear: 2345, cvc: '9a8' })],
    [
      'other fields',
      card({ number: '6011111111111117', cvc: '987', holderName: 'Secret\u0007Name', issuingCountry: 'QQ', cardType: 'GOLDEN' }),
    ],
  ];

  it.each(cases)('%s', (_label, input) => {
    const fields = failures(validateCard(input));
    const secrets = stringLeaves(input).filter((s) => s.length >= 2);
    const number = (input as { number: string }).number;
    secrets.push(number.replace(/\D/g, ''), number.replace(/\D/g, '').slice(0, 6));
    for (const f of fields) {
      for (const secret of secrets) expect(f.message, `${f.path.join('.')}`).not.toContain(secret);
    }
  });

  it('holds for other schemas too', () => {
    const input = {
      email: 'not-an-email-address',
      phone: '+65 9xxx',
      phoneCountryCode: '65',
      merchantReferenceId: 'ref\u200bhidden',
      metadata: { nested: { secret: 'deep-secret' }, long: 'v'.repeat(501) },
    };
    const fields = failures(validate(createCustomerInputSchema, input, ['input']));
    expect(fields).toHaveLength(6);
    for (const f of fields) {
      for (const secret of ['not-an-email-address', '9xxx', 'hidden', 'deep-secret', 'vvvvv']) expect(f.message).not.toContain(secret);
    }
  });
});

describe('metadataSchema', () => {
  const meta = (metadata: unknown) => validate(createCustomerInputSchema, { metadata }, ['input']);
  const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));

  it('accepts flat scalar values at the limits', () => {
    expect(meta(keys(50)).ok).toBe(true);
    expect(passedValue(meta({ ['k'.repeat(40)]: 'v'.repeat(500), flag: true, none: null, n: 1.5 })).metadata).toEqual({
      ['k'.repeat(40)]: 'v'.repeat(500),
      flag: true,
      none: null,
      n: 1.5,
    });
  });

  it('refuses more than 50 keys on the metadata path', () => {
    expect(failures(meta(keys(51)))).toEqual([
      { path: ['input', 'metadata'], code: 'INVALID_INPUT', message: 'Metadata can have at most 50 keys' },
    ]);
  });

  it('refuses long keys, long values and nested values on the key path', () => {
    const longKey = 'k'.repeat(41);
    const fields = failures(meta({ [longKey]: 1, long: 'v'.repeat(501), obj: { a: 1 }, arr: [1], ok: 'fine' }));
    expect(fields.map((f) => [f.path, f.code])).toEqual([
      [['input', 'metadata', longKey], 'INVALID_INPUT'],
      [['input', 'metadata', 'long'], 'INVALID_INPUT'],
      [['input', 'metadata', 'obj'], 'INVALID_INPUT'],
      [['input', 'metadata', 'arr'], 'INVALID_INPUT'],
    ]);
  });

  it('refuses text over its limit at once: one issue, the text neither scanned nor echoed', () => {
    // 200,000 comma-separated 4-digit groups: scanned for card numbers, they took 2 s of CPU per field.
    const huge = '4242,'.repeat(200_000);
    expect(failures(meta({ [huge]: 1 }))).toEqual([
      { path: ['input', 'metadata'], code: 'INVALID_INPUT', message: expect.stringMatching(/^Metadata keys must have 1 to 40 characters/) },
    ]);
    expect(failures(validate(createCustomerInputSchema, { description: huge }, ['input']))).toEqual([
      { path: ['input', 'description'], code: 'INVALID_INPUT', message: 'Must be at most 500 characters' },
    ]);
    expect(failures(validate(cardInputSchema, { number: '4242 '.repeat(200_000), expMonth: 1, expYear: 2040 }, ['card']))).toEqual([
      expect.objectContaining({ path: ['card', 'number'], code: 'INVALID_CARD_NUMBER' }),
    ]);
  });

  it('refuses arrays and scalars as metadata', () => {
    for (const metadata of [[1, 2], 'text', 3]) {
      expect(failures(meta(metadata)).map((f) => f.path)).toEqual([['input', 'metadata']]);
    }
    expect(failures(validate(metadataSchema, [], ['m']))).toEqual([{ path: ['m'], code: 'INVALID_INPUT', message: 'Must be an object' }]);
  });
});

describe('addresses and customers', () => {
  it('checks address lengths and countries', () => {
    expect(passedValue(validate(addressInputSchema, { line1: ' 1 Main St ', country: 'us', zip: null }, []))).toEqual({
      line1: '1 Main St',
      country: 'US',
      zip: undefined,
    });
    const fields = failures(
      validate(
        addressInputSchema,
        { line1: 'x'.repeat(201), city: 'c'.repeat(101), zip: '1'.repeat(21), country: 'USA', lastName: 'l'.repeat(101) },
        ['a'],
      ),
    );
    expect(fields.map((f) => f.path.join('.'))).toEqual(['a.line1', 'a.city', 'a.zip', 'a.country', 'a.lastName']);
  });

  it('validates a new customer', () => {
    const value = passedValue(
      validate(
        createCustomerInputSchema,
        {
          merchantReferenceId: 'order-42',
          name: null,
          email: ' ada@example.com ',
          phone: '(65) 6123-4567',
          phoneCountryCode: '+65',
          description: 'line one\nline two',
          defaultBillingAddress: { line1: '1 Main St', country: 'SG' },
        },
        ['input'],
      ),
    );
    expect(value).toMatchObject({ email: 'ada@example.com', phone: '(65) 6123-4567', description: 'line one\nline two' });
    expect(value.name).toBeUndefined();
    const fields = failures(
      validate(
        createCustomerInputSchema,
        {
          merchantReferenceId: 'r'.repeat(65),
          email: 'a@b',
          phone: '123-ABC',
          phoneCountryCode: '+12345',
          description: 'd'.repeat(501),
          defaultShippingAddress: { country: 'ZZ' },
        },
        ['input'],
      ),
    );
    expect(fields.map((f) => f.path.join('.'))).toEqual([
      'input.merchantReferenceId',
      'input.email',
      'input.phone',
      'input.phoneCountryCode',
      'input.description',
      'input.defaultShippingAddress.country',
    ]);
  });

  it('keeps null (clear) apart from undefined (leave as is) in customer updates', () => {
    const value = passedValue(
      validate(updateCustomerInputSchema, { name: null, email: 'new@example.com', description: '', metadata: null }, ['input']),
    );
    expect(value.name).toBeNull();
    expect(value.description).toBeNull();
    expect(value.metadata).toBeNull();
    expect(value.email).toBe('new@example.com');
    expect(value.phone).toBeUndefined();
    expect(value.defaultBillingAddress).toBeUndefined();
  });
});

describe('updatePaymentMethodInputSchema', () => {
  const update = (input: unknown) => validate(updatePaymentMethodInputSchema, input, ['input'], { now: NOW });

  it('requires expMonth and expYear together', () => {
    expect(failures(update({ expMonth: 3 }))).toEqual([{ path: ['input', 'expYear'], code: 'INVALID_INPUT', message: expect.any(String) }]);
    expect(failures(update({ expYear: 2030, expMonth: null }))).toEqual([
      { path: ['input', 'expMonth'], code: 'INVALID_INPUT', message: expect.any(String) },
    ]);
  });

  it('validates the expiry like a card', () => {
    expect(passedValue(update({ expMonth: 3, expYear: 29 }))).toMatchObject({ expMonth: 3, expYear: 2029 });
    expect(codesAt(failures(update({ expMonth: 10, expYear: 25 })), ['input', 'expMonth'])).toEqual(['CARD_EXPIRED']);
    expect(codesAt(failures(update({ expMonth: 0, expYear: 2030 })), ['input', 'expMonth'])).toEqual(['INVALID_EXPIRY']);
    expect(codesAt(failures(update({ expMonth: 1, expYear: 1999 })), ['input', 'expYear'])).toEqual(['INVALID_EXPIRY']);
  });

  it('keeps null apart from undefined', () => {
    const value = passedValue(update({ holderName: null, nickName: 'Work card', billing: null }));
    expect(value.holderName).toBeNull();
    expect(value.nickName).toBe('Work card');
    expect(value.billing).toBeNull();
    expect(value.metadata).toBeUndefined();
    expect(value.expMonth).toBeUndefined();
    expect(value.expYear).toBeUndefined();
  });
});

describe('tokenizeCardInputSchema', () => {
  const tokenize = (input: unknown) => validate(tokenizeCardInputSchema, input, ['input'], { now: NOW });

  it('takes exactly one of card or token', () => {
    expect(passedValue(tokenize({ card: card() })).card?.number.reveal()).toBe('4111111111111111');
    expect(passedValue(tokenize({ token: 'tok_abc', card: null })).token).toBe('tok_abc');
    for (const input of [{}, { card: null, token: null }, { card: card(), token: 'tok_abc' }]) {
      expect(failures(tokenize(input))).toEqual([{ path: ['input', 'card'], code: 'INVALID_INPUT', message: expect.any(String) }]);
    }
  });

  it('reports nested card issues with their full path', () => {
    const fields = failures(tokenize({ card: card({ number: '4111111111111112' }), billing: { email: 'nope' } }));
    expect(fields.map((f) => [f.path.join('.'), f.code])).toEqual([
      ['input.card.number', 'INVALID_CARD_NUMBER'],
      ['input.billing.email', 'INVALID_INPUT'],
    ]);
  });

  it('accepts an already-built schema as well as a factory', () => {
    expect(validate(tokenizeCardInputSchema, { token: 'tok_abc' }, []).ok).toBe(true);
  });
});

describe('small schemas', () => {
  it('extends retention by 1 to 24 months', () => {
    expect(passedValue(validate(extendRetentionMonthsSchema, 1, ['months']))).toBe(1);
    expect(passedValue(validate(extendRetentionMonthsSchema, 24, ['months']))).toBe(24);
    for (const months of [0, 25, 1.5, '3']) {
      expect(failures(validate(extendRetentionMonthsSchema, months, ['months']))).toEqual([
        { path: ['months'], code: 'INVALID_INPUT', message: expect.any(String) },
      ]);
    }
  });

  it('knows every ISO 3166-1 alpha-2 code', () => {
    expect(COUNTRY_CODES).toHaveLength(249);
    expect(new Set(COUNTRY_CODES).size).toBe(249);
    for (const code of ['SG', 'US', 'GB', 'AX', 'BQ', 'SS', 'CW']) expect(isCountryCode(code), code).toBe(true);
    for (const code of ['sg', 'UK', 'XK', 'ZZ', 'USA', '']) expect(isCountryCode(code), code).toBe(false);
  });
});

describe('card numbers outside card.number', () => {
  it('finds a card number in free text, wherever it stands, and not other long numbers', () => {
    expect(containsCardNumber('ref 4111 1111 1111 1111')).toBe(true);
    expect(containsCardNumber('ORDER-4111111111111111-B')).toBe(true);
    expect(containsCardNumber('5555-5555-5555-4444')).toBe(true);
    expect(containsCardNumber('4111111111111112')).toBe(false); // fails Luhn
    expect(containsCardNumber('1732200000000000')).toBe(false); // no card brand's range
    expect(containsCardNumber('order 12345, phone +49 30 1234567')).toBe(false);
  });

  it('refuses them in fields stored in the clear (and in the other text fields), never echoing them', () => {
    const r = validate(
      createCustomerInputSchema,
      {
        merchantReferenceId: 'ord-4111111111111111',
        description: 'card 4242 4242 4242 4242',
        metadata: { note: '5555555555554444', n: 4111111111111111 },
      },
      ['input'],
    );
    expect(failures(r).map((f) => f.path.join('.'))).toEqual([
      'input.merchantReferenceId',
      'input.description',
      'input.metadata.note',
      'input.metadata.n',
    ]);
    expect(JSON.stringify(r)).not.toMatch(/4111111111111111|4242 4242|5555555555554444/);
  });
});
