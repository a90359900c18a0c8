import { describe, expect, it } from 'vitest';
import { checkCardNumber } from '../../src/card/number.js';
import {
  cvcState,
  expiryState,
  formatCvc,
  formatExpiry,
  formatNumber,
  numberGroups,
  numberState,
  parseExpiry,
  sdkBrand,
} from '../../sdk/format.js';
import { messagesFor } from '../../sdk/messages.js';

// The hosted card fields' as-you-type logic (sdk/format.ts, bundled into the iframe's script): grouping, brand
// detection and the checks, which must agree with what the server accepts (src/card).

const NOW = new Date('2026-11-30T12:00:00Z');

describe('card number formatting', () => {
  it.each([
    ['4242424242424242', '4242 4242 4242 4242', 'VISA'],
    ['4242 42', '4242 42', 'VISA'],
    ['42424', '4242 4', 'VISA'],
    ['378282246310005', '3782 822463 10005', 'AMEX'],
    ['3782822463', '3782 822463', 'AMEX'],
    ['37828224631000599', '3782 822463 10005', 'AMEX'], // cut at Amex's 15 digits
    ['30569309025904', '3056 930902 5904', 'DINERS_CLUB'],
    ['5555-5555-5555-4444', '5555 5555 5555 4444', 'MASTERCARD'],
    ['6011111111111117', '6011 1111 1111 1117', 'DISCOVER'],
    ['4242424242424242123', '4242 4242 4242 4242 123', 'VISA'], // Visa issues 19 digits
    ['42424242424242421234', '4242 4242 4242 4242 123', 'VISA'],
    ['abc', '', 'UNKNOWN'],
  ])('%s -> "%s" (%s)', (typed, text, brand) => {
    const formatted = formatNumber(typed);
    expect(formatted.text).toBe(text);
    expect(formatted.brand).toBe(brand);
    expect(formatted.digits).toBe(text.replace(/ /g, ''));
  });

  it('groups Amex 4-6-5 and everything else by fours', () => {
    expect(numberGroups('AMEX', 15)).toEqual([4, 6, 5]);
    expect(numberGroups('VISA', 16).slice(0, 4)).toEqual([4, 4, 4, 4]);
  });

  it('names brands as the SDK does: lower case', () => {
    expect(sdkBrand('VISA')).toBe('visa');
    expect(sdkBrand('AMEX')).toBe('amex');
    expect(sdkBrand('DINERS_CLUB')).toBe('diners_club');
  });
});

describe('card number state', () => {
  it('is complete exactly when the server would take the number', () => {
    for (const number of ['4242424242424242', '378282246310005', '5555555555554444', '4000002500003155', '6200000000000005']) {
      expect(numberState(number, false).complete).toBe(checkCardNumber(number).ok);
      expect(numberState(number, false)).toEqual({ empty: false, complete: true });
    }
  });

  it('shows no error while the number can still become valid, and one once it cannot', () => {
    expect(numberState('4242', false)).toEqual({ empty: false, complete: false });
    expect(numberState('4242424242424241', false).error).toBeUndefined(); // a Visa may have 19 digits
    expect(numberState('4242424242424241124', false).error).toBe('invalid_number');
    expect(numberState('378282246310001', false).error).toBe('invalid_number'); // Amex at 15, bad check digit
    expect(checkCardNumber('378282246310001').ok).toBe(false);
  });

  it('judges incomplete input wrong once final (the shopper left the input or pressed pay)', () => {
    expect(numberState('', true).error).toBe('incomplete_number');
    expect(numberState('4242', true).error).toBe('incomplete_number');
    expect(numberState('4242424242424241', true).error).toBe('invalid_number');
    expect(numberState('', false)).toEqual({ empty: true, complete: false });
  });
});

describe('expiry', () => {
  it.each([
    ['1', '1'],
    ['4', '04 / '],
    ['12', '12 / '],
    ['123', '12 / 3'],
    ['1230', '12 / 30'],
    ['12/30', '12 / 30'],
    ['12 / 305', '12 / 30'],
    ['12/2030', '12 / 30'], // autofill's four-digit year
    ['1/2031', '01 / 31'],
    ['03-29', '03 / 29'],
  ])('%s -> "%s"', (typed, text) => {
    expect(formatExpiry(typed)).toBe(text);
  });

  it('leaves the separator to be deleted by backspace', () => {
    expect(formatExpiry('12 /', true)).toBe('12');
  });

  it('uses the server rules: month 1-12, not past, two-digit years', () => {
    expect(parseExpiry('12 / 30')).toEqual({ month: 12, year: 30 });
    expect(expiryState('12 / 30', NOW, false)).toEqual({ empty: false, complete: true });
    expect(expiryState('11 / 26', NOW, false).complete).toBe(true); // valid through the end of its month
    expect(expiryState('10 / 26', NOW, false).error).toBe('expired_card');
    expect(expiryState('13', NOW, false).error).toBe('invalid_expiry');
    expect(expiryState('00 / ', NOW, false).error).toBe('invalid_expiry');
    expect(expiryState('12 / 3', NOW, false).error).toBeUndefined();
    expect(expiryState('12 / 3', NOW, true).error).toBe('incomplete_expiry');
  });
});

describe('CVC', () => {
  it("takes the brand's code size: 4 for Amex, 3 for the others", () => {
    expect(formatCvc('12345', 'AMEX')).toBe('1234');
    expect(formatCvc('12a34', 'VISA')).toBe('123');
    expect(cvcState('123', 'VISA', false)).toEqual({ empty: false, complete: true });
    expect(cvcState('123', 'AMEX', false).complete).toBe(false);
    expect(cvcState('123', 'AMEX', true).error).toBe('incomplete_cvc');
    expect(cvcState('1234', 'AMEX', false).complete).toBe(true);
  });
});

describe('messages', () => {
  it('speaks English by default and German when asked (or when the browser does)', () => {
    expect(messagesFor(undefined, 'en-US').errors.invalid_number).toBe('Your card number is invalid.');
    expect(messagesFor('de', 'en-US').errors.invalid_number).toBe('Die Kartennummer ist ungültig.');
    expect(messagesFor('auto', 'de-AT').number).toBe('Kartennummer');
    expect(messagesFor('fr', 'de').number).toBe('Card number');
  });
});
