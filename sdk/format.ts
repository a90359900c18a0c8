import { brandLengths, type CardBrand, checkCardNumber, cvcLengths, detectBrand } from '../src/card/number.js';
import { expiryIssues } from '../src/card/expiry.js';

// What the hosted card fields do as the shopper types: digit grouping, brand detection and the checks, with the
// server's own rules (src/card: brands from credit-card-type's table, Luhn, lengths, CVC sizes, expiry), bundled
// into the iframe's script by esbuild so there is one source. Pure functions: unit-tested in Node.

/** The SDK's brand names: the API's enum in lower case (`visa`, `amex`, `diners_club`, `unknown`). */
export function sdkBrand(brand: CardBrand): string {
  return brand.toLowerCase();
}

function digitsOf(text: string): string {
  return text.replace(/\D/g, '');
}

/** The longest number a brand issues (unknown: 19). */
function maxNumberLength(brand: CardBrand): number {
  return Math.max(...brandLengths(brand));
}

/** Digit groups as printed on the card: Amex 4-6-5, 14-digit Diners Club 4-6-4, everything else by fours. */
export function numberGroups(brand: CardBrand, length: number): number[] {
  if (brand === 'AMEX') return [4, 6, 5];
  if (brand === 'DINERS_CLUB' && length <= 14) return [4, 6, 4];
  return [4, 4, 4, 4, 3];
}

export interface FormattedNumber {
  /** The digits kept (anything else dropped, cut at the brand's longest length). */
  digits: string;
  /** The digits grouped with spaces, as the input shows them. */
  text: string;
  brand: CardBrand;
}

/** Formats what is in the number input: `4242424242` -> `4242 4242 42`, `378282246310005` -> `3782 822463 10005`. */
export function formatNumber(typed: string): FormattedNumber {
  const all = digitsOf(typed);
  const brand = detectBrand(all);
  const digits = all.slice(0, maxNumberLength(brand));
  const parts: string[] = [];
  let at = 0;
  for (const size of numberGroups(brand, digits.length)) {
    if (at >= digits.length) break;
    parts.push(digits.slice(at, at + size));
    at += size;
  }
  if (at < digits.length) parts.push(digits.slice(at));
  return { digits, text: parts.join(' '), brand };
}

/**
 * Formats what is in the expiry input as `MM / YY`: a first digit above 1 is a month on its own (`4` ->
 * `04 / `); `deleting` (backspace) leaves the separator to be removed rather than put back.
 */
export function formatExpiry(typed: string, deleting = false): string {
  // Autofill and paste may give a four-digit year (`12/2030`, `1/30`): month and the year's last two digits.
  const whole = /^\s*(\d{1,2})\s*[/-]\s*(?:20)?(\d{2})\s*$/.exec(typed);
  if (whole && Number(whole[1]) >= 1 && (whole[1]!.length === 2 || typed.includes('/') || typed.includes('-'))) {
    return `${whole[1]!.padStart(2, '0')} / ${whole[2]}`;
  }
  let digits = digitsOf(typed);
  if (digits.length === 1 && digits > '1') digits = `0${digits}`;
  digits = digits.slice(0, 4);
  if (digits.length < 2) return digits;
  if (digits.length === 2) return deleting ? digits : `${digits} / `;
  return `${digits.slice(0, 2)} / ${digits.slice(2)}`;
}

/** Formats what is in the CVC input: digits, at most the brand's code size. */
export function formatCvc(typed: string, brand: CardBrand): string {
  return digitsOf(typed).slice(0, Math.max(...cvcLengths(brand)));
}

export type FieldName = 'number' | 'expiry' | 'cvc';

/** What is wrong with one input; the iframe shows (and the change event reports) its message in the page's language. */
export type FieldErrorCode =
  | 'incomplete_number'
  | 'invalid_number'
  | 'incomplete_expiry'
  | 'invalid_expiry'
  | 'expired_card'
  | 'incomplete_cvc';

export interface InputState {
  empty: boolean;
  complete: boolean;
  /** Set when the value is wrong: as soon as it cannot become right by typing more, or once `final`. */
  error?: FieldErrorCode;
}

/**
 * The number input's state. Complete once the server would take the number (a length of its brand, Luhn except
 * UnionPay); wrong while typing once it has the brand's longest length without being valid.
 */
export function numberState(digits: string, final: boolean): InputState {
  if (digits === '') return { empty: true, complete: false, ...(final ? { error: 'incomplete_number' } : {}) };
  if (checkCardNumber(digits).ok) return { empty: false, complete: true };
  const brand = detectBrand(digits);
  if (digits.length >= maxNumberLength(brand)) return { empty: false, complete: false, error: 'invalid_number' };
  return { empty: false, complete: false, ...(final ? { error: digits.length < 12 ? 'incomplete_number' : 'invalid_number' } : {}) };
}

/** Month and two-digit year of an `MM / YY` text, once both are typed. */
export function parseExpiry(text: string): { month: number; year: number } | undefined {
  const digits = digitsOf(text);
  if (digits.length !== 4) return undefined;
  return { month: Number(digits.slice(0, 2)), year: Number(digits.slice(2)) };
}

/** The expiry input's state, judged by the server's rules (month 1-12, not past, not absurdly far). */
export function expiryState(text: string, now: Date, final: boolean): InputState {
  const digits = digitsOf(text);
  if (digits === '') return { empty: true, complete: false, ...(final ? { error: 'incomplete_expiry' } : {}) };
  const month = digits.length >= 2 ? Number(digits.slice(0, 2)) : undefined;
  if (month !== undefined && (month < 1 || month > 12)) return { empty: false, complete: false, error: 'invalid_expiry' };
  const parsed = parseExpiry(text);
  if (!parsed) return { empty: false, complete: false, ...(final ? { error: 'incomplete_expiry' } : {}) };
  const issues = expiryIssues(parsed.month, parsed.year, now);
  if (issues.some((i) => i.code === 'CARD_EXPIRED')) return { empty: false, complete: false, error: 'expired_card' };
  if (issues.length) return { empty: false, complete: false, error: 'invalid_expiry' };
  return { empty: false, complete: true };
}

/** The CVC input's state: one of the brand's code sizes (Amex 4, others 3). */
export function cvcState(cvc: string, brand: CardBrand, final: boolean): InputState {
  if (cvc === '') return { empty: true, complete: false, ...(final ? { error: 'incomplete_cvc' } : {}) };
  if (cvcLengths(brand).includes(cvc.length)) return { empty: false, complete: true };
  return { empty: false, complete: false, ...(final ? { error: 'incomplete_cvc' } : {}) };
}
