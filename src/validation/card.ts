// Card number helpers: normalisation, Luhn, brand detection from IIN ranges, allowed lengths.

export type CardBrand =
  | 'VISA'
  | 'MASTERCARD'
  | 'AMEX'
  | 'DISCOVER'
  | 'DINERS_CLUB'
  | 'JCB'
  | 'UNIONPAY'
  | 'MAESTRO'
  | 'MIR'
  | 'ELO'
  | 'HIPERCARD'
  | 'UNKNOWN';

/** Separators people type between digit groups; nothing else is tolerated. */
const FORMATTED_NUMBER = /^\d+(?:[ -]+\d+)*$/;

/** The bare digits of a card number typed with optional spaces or dashes, or null if anything else appears. */
export function normalizeCardNumber(raw: string): string | null {
  const trimmed = raw.trim();
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

/**
 * IIN ranges as [brand, first prefix, last prefix (defaults to first)]; both prefixes have the same length.
 * Ranges overlap across lengths (Elo inside Visa, Hipercard inside Diners, ...): the longest matching
 * prefix wins, so the order of rows does not matter. Rows of equal prefix length never overlap.
 */
const IIN_TABLE: ReadonlyArray<readonly [CardBrand, string, string?]> = [
  ['VISA', '4'],
  ['MASTERCARD', '51', '55'],
  ['MASTERCARD', '2221', '2720'],
  ['AMEX', '34'],
  ['AMEX', '37'],
  ['DISCOVER', '6011'],
  ['DISCOVER', '644', '649'],
  ['DISCOVER', '65'],
  ['DISCOVER', '622126', '622925'], // co-branded with UnionPay
  ['DINERS_CLUB', '300', '305'],
  ['DINERS_CLUB', '3095'],
  ['DINERS_CLUB', '36'],
  ['DINERS_CLUB', '38', '39'],
  ['JCB', '3528', '3589'],
  ['UNIONPAY', '62'],
  ['UNIONPAY', '81'],
  ['MAESTRO', '50'],
  ['MAESTRO', '56', '58'],
  ['MAESTRO', '6'], // whatever else starts with 6 (639, 67, ...) once the ranges above are ruled out
  ['MIR', '2200', '2204'],
  ['ELO', '401178', '401179'],
  ['ELO', '431274'],
  ['ELO', '438935'],
  ['ELO', '451416'],
  ['ELO', '457393'],
  ['ELO', '457631', '457632'],
  ['ELO', '504175'],
  ['ELO', '506699', '506778'],
  ['ELO', '509000', '509999'],
  ['ELO', '627780'],
  ['ELO', '636297'],
  ['ELO', '636368'],
  ['ELO', '650031', '650033'],
  ['ELO', '650035', '650051'],
  ['ELO', '650405', '650439'],
  ['ELO', '650485', '650538'],
  ['ELO', '650541', '650598'],
  ['ELO', '650700', '650718'],
  ['ELO', '650720', '650727'],
  ['ELO', '650901', '650978'],
  ['ELO', '651652', '651679'],
  ['ELO', '655000', '655019'],
  ['ELO', '655021', '655058'],
  ['HIPERCARD', '384100'],
  ['HIPERCARD', '384140'],
  ['HIPERCARD', '384160'],
  ['HIPERCARD', '606282'],
  ['HIPERCARD', '637095'],
  ['HIPERCARD', '637568'],
  ['HIPERCARD', '637599'],
  ['HIPERCARD', '637609'],
  ['HIPERCARD', '637612'],
];

interface IinRange {
  brand: CardBrand;
  prefixLength: number;
  min: number;
  max: number;
}

const IIN_RANGES: readonly IinRange[] = IIN_TABLE.map(([brand, first, last = first]) => ({
  brand,
  prefixLength: first.length,
  min: Number(first),
  max: Number(last),
}));

const BRANDS = [...new Set(IIN_TABLE.map(([brand]) => brand))];
let bySixDigits: Uint8Array | undefined;

/**
 * The brand of every 6-digit IIN (index + 1 into BRANDS; 0 for none), filled shortest prefixes first so the
 * longest matching prefix wins. Built once: the PAN detector asks for the brand of every Luhn-valid window.
 */
function iinTable(): Uint8Array {
  if (bySixDigits) return bySixDigits;
  const table = new Uint8Array(1_000_000);
  for (const range of [...IIN_RANGES].sort((a, b) => a.prefixLength - b.prefixLength)) {
    const scale = 10 ** (6 - range.prefixLength);
    table.fill(BRANDS.indexOf(range.brand) + 1, range.min * scale, (range.max + 1) * scale);
  }
  bySixDigits = table;
  return table;
}

export function detectBrand(digits: string): CardBrand {
  if (digits.length >= 6 && /^\d{6}/.test(digits)) return BRANDS[iinTable()[Number(digits.slice(0, 6))]! - 1] ?? 'UNKNOWN';
  let best: IinRange | undefined;
  for (const range of IIN_RANGES) {
    if (digits.length < range.prefixLength || (best && best.prefixLength >= range.prefixLength)) continue;
    const prefix = Number(digits.slice(0, range.prefixLength));
    if (prefix >= range.min && prefix <= range.max) best = range;
  }
  return best?.brand ?? 'UNKNOWN';
}

export const MIN_CARD_LENGTH = 12;
export const MAX_CARD_LENGTH = 19;

const span = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const BRAND_LENGTHS: Readonly<Record<CardBrand, readonly number[]>> = {
  VISA: [13, 16, 19],
  MASTERCARD: [16],
  AMEX: [15],
  DISCOVER: span(16, 19),
  DINERS_CLUB: span(14, 19),
  JCB: span(16, 19),
  UNIONPAY: span(16, 19),
  MAESTRO: span(12, 19),
  MIR: span(16, 19),
  ELO: [16],
  HIPERCARD: [16, 19],
  UNKNOWN: span(MIN_CARD_LENGTH, MAX_CARD_LENGTH),
};

export function brandLengths(brand: CardBrand): readonly number[] {
  return BRAND_LENGTHS[brand];
}

/** Card security code lengths: Amex prints a 4-digit CID, everyone else a 3-digit CVC/CVV. */
export function cvcLengths(brand: CardBrand): readonly number[] {
  return brand === 'AMEX' ? [4] : [3];
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
  const digits = normalizeCardNumber(raw);
  if (digits === null) {
    return { ok: false, message: 'Card number must contain only digits, optionally grouped with spaces or dashes' };
  }
  if (digits.length < MIN_CARD_LENGTH || digits.length > MAX_CARD_LENGTH) {
    return { ok: false, message: `Card number must have ${MIN_CARD_LENGTH} to ${MAX_CARD_LENGTH} digits` };
  }
  if (!luhnValid(digits)) return { ok: false, message: 'Card number is invalid (check digit mismatch)' };
  const brand = detectBrand(digits);
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
