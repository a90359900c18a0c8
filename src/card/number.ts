import { brandLengths, type CardBrand, detectBrand, MAX_CARD_LENGTH, MIN_CARD_LENGTH } from './brands.js';

// Card number helpers: normalisation, Luhn, the full check of a typed number. Brands, their ranges, lengths
// and CVC sizes come from credit-card-type through src/card/brands.ts.

export { brandLengths, type CardBrand, cvcLengths, detectBrand } from './brands.js';

// 19 digits with a separator run between each two is far below this; a megabyte of input is not read further.
const MAX_TYPED_LENGTH = 100;

/** Separators people type between digit groups; nothing else is tolerated. */
const FORMATTED_NUMBER = /^\d+(?:[ -]+\d+)*$/;

/** The bare digits of a card number typed with optional spaces or dashes, or null if anything else appears. */
export function normalizeCardNumber(raw: string): string | null {
  const trimmed = raw.trim();
  if (trimmed.length > MAX_TYPED_LENGTH) return null;
  return FORMATTED_NUMBER.test(trimmed) ? trimmed.replace(/[ -]/g, '') : null;
}

export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function bin(digits: string): string {
  return digits.slice(0, 6);
}

export function last4(digits: string): string {
  return digits.slice(-4);
}

export type CardNumberCheck = { ok: true; digits: string; brand: CardBrand } | { ok: false; message: string };

/** Full check of a card number as typed. Messages never include the number. */
export function checkCardNumber(raw: string): CardNumberCheck {
  const trimmed = raw.trim();
  if (trimmed.length > MAX_TYPED_LENGTH) {
    return { ok: false, message: `Card number is too long: at most ${MAX_TYPED_LENGTH} characters` };
  }
  const digits = normalizeCardNumber(trimmed);
  if (digits === null) {
    return { ok: false, message: 'Card number must contain only digits, optionally grouped with spaces or dashes' };
  }
  if (digits.length < MIN_CARD_LENGTH || digits.length > MAX_CARD_LENGTH) {
    return { ok: false, message: `Card number must have ${MIN_CARD_LENGTH} to ${MAX_CARD_LENGTH} digits` };
  }
  const brand = detectBrand(digits);
  // UnionPay issues cards whose check digit does not follow Luhn: its numbers are taken as they are.
  if (brand !== 'UNIONPAY' && !luhnValid(digits)) return { ok: false, message: 'Card number is invalid (check digit mismatch)' };
  const lengths = brandLengths(brand);
  if (!lengths.includes(digits.length)) {
    return { ok: false, message: `A ${brand} card number must have ${listOr(lengths)} digits` };
  }
  return { ok: true, digits, brand };
}

/** "16", "13 or 16", "13, 16 or 19". */
function listOr(values: readonly number[]): string {
  const head = values.slice(0, -1);
  return head.length ? `${head.join(', ')} or ${values.at(-1)}` : String(values[0]);
}
