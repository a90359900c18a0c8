import creditCardType from 'credit-card-type';
import { describe, expect, it } from 'vitest';
import { containsCardNumber } from '../../src/card/pan.js';
import { brandLengths, type CardBrand, checkCardNumber, cvcLengths, detectBrand, luhnValid } from '../../src/card/number.js';

// The brand table (src/card/brands.ts) is braintree's credit-card-type: these pin how its networks map onto
// the contract's CardBrand enum, which range wins where they overlap, and what tokenizeCard takes. No database.

/** The number of the given length starting with `prefix`, zeros after it, with a Luhn check digit. */
function card(prefix: string, length = 16): string {
  const partial = prefix.padEnd(length - 1, '0');
  return partial + [...'0123456789'].find((d) => luhnValid(partial + d))!;
}

/** The same number with its check digit wrong. */
function luhnFailing(number: string): string {
  const last = Number(number.at(-1));
  const wrong = number.slice(0, -1) + String((last + 1) % 10);
  expect(luhnValid(wrong)).toBe(false);
  return wrong;
}

const accepted = (number: string) => checkCardNumber(number).ok;

describe('brand ranges', () => {
  it('gives 622126-622925 to UnionPay, and the 622 prefixes around it too: Discover has no 622 range', () => {
    expect(detectBrand(card('622125'))).toBe('UNIONPAY');
    expect(detectBrand(card('622126'))).toBe('UNIONPAY');
    expect(detectBrand(card('622925'))).toBe('UNIONPAY');
    expect(detectBrand(card('622926'))).toBe('UNIONPAY');
    for (let six = 622000; six <= 622999; six++) expect(detectBrand(card(String(six))), String(six)).not.toBe('DISCOVER');
    // Discover's own ranges
    for (const prefix of ['6011', '644', '649', '65']) expect(detectBrand(card(prefix)), prefix).toBe('DISCOVER');
    expect(detectBrand(card('6010'))).toBe('MAESTRO');
    expect(detectBrand(card('643'))).toBe('MAESTRO');
  });

  it("gives Elo and Hipercard ranges inside other brands' prefixes to Elo and Hipercard, and only those", () => {
    const cases: Array<[string, CardBrand]> = [
      // Elo inside Visa's 4
      ['401177', 'VISA'],
      ['401178', 'ELO'],
      ['401179', 'ELO'],
      ['401180', 'VISA'],
      ['438935', 'ELO'],
      ['431274', 'ELO'],
      ['451416', 'ELO'],
      ['457393', 'ELO'],
      ['457631', 'ELO'],
      ['457632', 'ELO'],
      ['457633', 'VISA'],
      // Elo inside Discover's 65
      ['650030', 'DISCOVER'],
      ['650031', 'ELO'],
      ['650033', 'ELO'],
      ['650034', 'DISCOVER'],
      ['650035', 'ELO'],
      ['655019', 'ELO'],
      ['655020', 'DISCOVER'],
      ['655021', 'ELO'],
      ['655058', 'ELO'],
      ['655059', 'DISCOVER'],
      // Elo inside Maestro's 50 and UnionPay's 62
      ['504174', 'MAESTRO'],
      ['504175', 'ELO'],
      ['504176', 'MAESTRO'],
      ['509000', 'ELO'],
      ['509999', 'ELO'],
      ['627779', 'UNIONPAY'],
      ['627780', 'ELO'],
      ['627781', 'UNIONPAY'],
      // Hipercard (and Itaú's Hiper) inside Maestro's 6
      ['606281', 'MAESTRO'],
      ['606282', 'HIPERCARD'],
      ['606283', 'MAESTRO'],
      ['637095', 'HIPERCARD'],
      ['637096', 'MAESTRO'],
      // Mastercard's 2-series and Mir beside it
      ['2221', 'MASTERCARD'],
      ['2720', 'MASTERCARD'],
      ['2721', 'UNKNOWN'],
      ['2200', 'MIR'],
      ['2204', 'MIR'],
      ['2205', 'UNKNOWN'],
    ];
    for (const [prefix, brand] of cases) expect(detectBrand(card(prefix)), prefix).toBe(brand);
  });

  it("calls networks without an enum member UNKNOWN, even inside a known brand's prefix (the longer range wins)", () => {
    expect(detectBrand(card('9792'))).toBe('UNKNOWN'); // Troy
    expect(detectBrand(card('650052'))).toBe('UNKNOWN'); // Troy inside Discover's 65
    expect(detectBrand(card('65083700'))).toBe('UNKNOWN'); // an 8-digit Troy range
    expect(detectBrand(card('65083705'))).toBe('DISCOVER'); // just past it
    expect(detectBrand(card('506099'))).toBe('UNKNOWN'); // Verve inside Maestro's 50
    expect(detectBrand(card('402918'))).toBe('UNKNOWN'); // Naranja inside Visa's 4
  });

  it('answers as credit-card-type does for every 6-digit IIN (the longest matching range wins)', () => {
    const enumOf: Record<string, CardBrand> = {
      visa: 'VISA',
      mastercard: 'MASTERCARD',
      'american-express': 'AMEX',
      discover: 'DISCOVER',
      'diners-club': 'DINERS_CLUB',
      jcb: 'JCB',
      unionpay: 'UNIONPAY',
      maestro: 'MAESTRO',
      mir: 'MIR',
      elo: 'ELO',
      hiper: 'HIPERCARD',
      hipercard: 'HIPERCARD',
    };
    // Every 7th IIN of the crowded 4, 5 and 6 series and every 97th elsewhere (the package takes ~10 µs a number).
    for (let six = 0; six < 1_000_000; six++) {
      if (!(six >= 400_000 && six < 700_000 && six % 7 === 0) && six % 97 !== 0) continue;
      const number = `${String(six).padStart(6, '0')}0000000000`;
      const matches = creditCardType(number);
      expect(matches.length, number).toBeLessThanOrEqual(1);
      expect(detectBrand(number), number).toBe(matches[0] ? (enumOf[matches[0].type] ?? 'UNKNOWN') : 'UNKNOWN');
    }
  });
});

describe('what tokenizeCard takes', () => {
  it('takes a UnionPay number that fails Luhn, and refuses one that fails Luhn for every other brand', () => {
    const unionPay = luhnFailing(card('622126'));
    expect(checkCardNumber(unionPay)).toEqual({ ok: true, digits: unionPay, brand: 'UNIONPAY' });
    expect(accepted(luhnFailing(card('62', 19)))).toBe(true);
    expect(accepted(luhnFailing(card('8171')))).toBe(true);
    for (const prefix of ['4', '51', '2221', '34', '6011', '36', '3528', '50', '2200', '401178', '606282', '9792', '99']) {
      const length = prefix === '34' ? 15 : prefix === '36' ? 14 : 16;
      expect(accepted(card(prefix, length)), prefix).toBe(true);
      expect(checkCardNumber(luhnFailing(card(prefix, length))), prefix).toEqual({
        ok: false,
        message: 'Card number is invalid (check digit mismatch)',
      });
    }
  });

  it('refuses a UnionPay number of a length UnionPay does not issue, Luhn or not', () => {
    expect(brandLengths('UNIONPAY')).toEqual([14, 15, 16, 17, 18, 19]);
    expect(accepted(card('622126', 14))).toBe(true);
    expect(accepted(card('622126', 13))).toBe(false);
    expect(accepted(luhnFailing(card('622126', 13)))).toBe(false);
    expect(accepted(luhnFailing(card('622126', 12)))).toBe(false);
  });

  it('takes Maestro at 12-19 digits and Mir at 16-19', () => {
    expect(brandLengths('MAESTRO')).toEqual([12, 13, 14, 15, 16, 17, 18, 19]);
    for (let length = 12; length <= 19; length++) expect(accepted(card('50', length)), `Maestro ${length}`).toBe(true);
    expect(brandLengths('MIR')).toEqual([16, 17, 18, 19]);
    for (let length = 16; length <= 19; length++) expect(accepted(card('2200', length)), `Mir ${length}`).toBe(true);
    for (const length of [12, 13, 14, 15])
      expect(checkCardNumber(card('2200', length)), `Mir ${length}`).toEqual({
        ok: false,
        message: 'A MIR card number must have 16, 17, 18 or 19 digits',
      });
  });

  it('takes a Luhn-valid number of 12-19 digits of no known brand (or of a network the enum lacks) as UNKNOWN', () => {
    for (let length = 12; length <= 19; length++) {
      expect(checkCardNumber(card('99', length)), `99… ${length}`).toMatchObject({ ok: true, brand: 'UNKNOWN' });
      expect(checkCardNumber(card('9792', length)), `Troy ${length}`).toMatchObject({ ok: true, brand: 'UNKNOWN' });
    }
    expect(accepted(luhnFailing(card('99')))).toBe(false);
  });

  it('asks for a 4-digit CVC for Amex and a 3-digit one for every other brand, as credit-card-type says', () => {
    expect(cvcLengths('AMEX')).toEqual([4]);
    for (const brand of [
      'VISA',
      'MASTERCARD',
      'DISCOVER',
      'DINERS_CLUB',
      'JCB',
      'UNIONPAY',
      'MAESTRO',
      'MIR',
      'ELO',
      'HIPERCARD',
      'UNKNOWN',
    ] as const) {
      expect(cvcLengths(brand), brand).toEqual([3]);
    }
    expect(creditCardType.getTypeInfo('american-express').code.size).toBe(4);
  });
});

describe("card ranges in free text (the PAN detector's card-range mode)", () => {
  it('counts the networks the enum lacks, at their own lengths', () => {
    expect(containsCardNumber(`note ${card('506099')}`)).toBe(true); // Verve (16)
    expect(containsCardNumber(`note ${card('9792')}`)).toBe(true); // Troy (16)
    expect(containsCardNumber(`note ${card('9792', 15)}`)).toBe(false); // Troy is never 15 digits
    expect(containsCardNumber(`note ${card('622126')}`)).toBe(true);
    expect(containsCardNumber(`note ${card('4', 13)}`)).toBe(false); // Visa no longer issues 13 digits
    expect(containsCardNumber(`note ${card('99')}`)).toBe(false);
  });
});
