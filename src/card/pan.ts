import { inCardRange, luhnExemptLengths } from './brands.js';

// The one card-number detector: logs, free-text validation, forwarding and the tests' scan all ask it.
//
// A card number is any 12-19 digit window of a *digit sequence* that passes Luhn (or is a UnionPay number,
// which need not: UnionPay issues numbers that fail it), whatever stands around it
// (letters, underscores, more digits): `pay_4242…`, `x4242…y` and a number inside a longer digit run are all
// found. A digit sequence is digits with at most MAX_GAP separator characters between neighbours. Digits and
// separators are recognised after NFKC (fullwidth ４, mathematical 𝟒, ideographic spaces) and separators are
// those people and programs put between digit groups: spaces of every kind, tabs, dots, slashes, underscores,
// hyphens and dashes (and NUL, which is what UTF-16 read as bytes puts between digits). JSON and URL escapes
// (\u0034, \t, %20) count as the characters they encode.
//
// One left-to-right pass: each digit is the end of at most 8 windows (lengths 12-19) and each window's Luhn
// sum is read from prefix sums in O(1), so finding and masking are linear in the text whatever it holds.

const MIN_PAN_DIGITS = 12;
const MAX_PAN_DIGITS = 19;
/** Separator characters allowed between two digits of one number ("4111 - 1111" has three). */
const MAX_GAP = 3;

export interface PanOptions {
  /**
   * Only numbers that could be issued cards: in a range of a network credit-card-type knows (Troy, Naranja
   * and Verve included) and one of its lengths (src/card/brands.ts, a table built once at load). For places
   * where a false positive costs more than a masked log token:
   * refusing a merchant's free text, rewriting an upstream's reply, failing a test run.
   */
  cardRangesOnly?: boolean;
}

/** A found number: where it stands in the text ([start, end) in UTF-16 units) and its bare digits. */
export interface PanMatch {
  start: number;
  end: number;
  digits: string;
}

const SEPARATOR = -1;
const OTHER = -2;
const ASCII_SEPARATORS = new Set([' ', '\t', '.', '/', '_', '-', '\0'].map((c) => c.charCodeAt(0)));
// Separators that NFKC leaves as they are: NBSP and the spaces/dashes that do not fold to ASCII.
const UNICODE_SEPARATOR = /^[\p{Zs}\u2010-\u2015\u2212\u2043\uFE58\uFE63\uFF0D\uFF0E\uFF0F\uFF3F]$/u;
const nonAscii = new Map<number, number>();

/** A code point's class: its digit value, SEPARATOR or OTHER. */
function classify(cp: number): number {
  if (cp >= 48 && cp <= 57) return cp - 48;
  if (cp < 128) return ASCII_SEPARATORS.has(cp) ? SEPARATOR : OTHER;
  let c = nonAscii.get(cp);
  if (c === undefined) {
    const ch = String.fromCodePoint(cp);
    const folded = ch.normalize('NFKC');
    if (folded.length === 1 && folded >= '0' && folded <= '9') c = folded.charCodeAt(0) - 48;
    else if ((folded.length === 1 && ASCII_SEPARATORS.has(folded.charCodeAt(0))) || UNICODE_SEPARATOR.test(ch)) c = SEPARATOR;
    else c = OTHER;
    if (nonAscii.size < 4096) nonAscii.set(cp, c);
  }
  return c;
}

/**
 * The text with digits and separators folded the way the detector sees them: NFKC, every separator run a
 * single space. For showing what was found; detection itself keeps the original positions.
 */
export function normalizePanText(text: string): string {
  let out = '';
  let gap = false;
  for (const ch of text.normalize('NFKC')) {
    const c = classify(ch.codePointAt(0)!);
    if (c === SEPARATOR) {
      gap = true;
      continue;
    }
    if (gap) out += ' ';
    gap = false;
    out += c >= 0 ? String(c) : ch;
  }
  return gap ? `${out} ` : out;
}

/**
 * One digit sequence: its digits, and where each digit's character starts and ends in the text. `starts` and
 * `ends` are views into buffers reused for the next sequence: copy what must outlive the callback.
 */
export interface DigitSequence {
  digits: string;
  starts: Int32Array;
  ends: Int32Array;
}

/** Calls `visit` with every digit sequence of at least `minDigits` digits, left to right; `false` stops. */
export function forEachDigitSequence(text: string, minDigits: number, visit: (seq: DigitSequence) => boolean | void): void {
  // Digits are collected in growable typed arrays (a string grown a character at a time, or arrays of
  // boxed positions, cost more in garbage than the scan itself on a long run).
  let codes = new Uint8Array(64);
  let starts = new Int32Array(64);
  let ends = new Int32Array(64);
  let count = 0;
  let gap = 0;
  let stop = false;
  const flush = () => {
    if (count >= minDigits) {
      const digits = latin1.decode(codes.subarray(0, count));
      if (visit({ digits, starts: starts.subarray(0, count), ends: ends.subarray(0, count) }) === false) stop = true;
    }
    count = 0;
    gap = 0;
  };
  for (let i = 0; i < text.length && !stop; ) {
    let cp = text.codePointAt(i)!;
    let width = cp > 0xffff ? 2 : 1;
    if (cp === 92 /* \ */ || cp === 37 /* % */) [cp, width] = escaped(text, i, cp, width);
    const c = classify(cp);
    if (c >= 0) {
      if (gap > MAX_GAP) flush();
      if (stop) break;
      if (count === codes.length) {
        codes = grow(codes, new Uint8Array(count * 2));
        starts = grow(starts, new Int32Array(count * 2));
        ends = grow(ends, new Int32Array(count * 2));
      }
      codes[count] = 48 + c;
      starts[count] = i;
      ends[count] = i + width;
      count++;
      gap = 0;
    } else if (c === SEPARATOR) {
      if (count > 0) gap++;
    } else if (count > 0) {
      flush();
    }
    i += width;
  }
  if (!stop) flush();
}

const latin1 = new TextDecoder('latin1');

function grow<T extends Uint8Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

const JSON_ESCAPES: Record<string, number> = { t: 9, n: 10, r: 13, b: 8, f: 12, '/': 47, '\\': 92, '"': 34 };
const HEX = /^[0-9a-fA-F]+$/;

/**
 * The character an escape at `i` stands for, and how many characters it takes: JSON's \t, \/, \u0034 and
 * URL's %34 are read as what they encode, so `\u0034\u0032…` in a JSON log line or an upstream's answer, and
 * digits separated by `\t` or `%20`, are numbers like any other. Anything else is the character itself.
 */
function escaped(text: string, i: number, cp: number, width: number): [number, number] {
  if (cp === 37) {
    const hex = text.slice(i + 1, i + 3);
    return hex.length === 2 && HEX.test(hex) && parseInt(hex, 16) < 128 ? [parseInt(hex, 16), 3] : [cp, width];
  }
  const next = text[i + 1];
  if (next === 'u') {
    const hex = text.slice(i + 2, i + 6);
    return hex.length === 4 && HEX.test(hex) ? [parseInt(hex, 16), 6] : [cp, width];
  }
  const simple = next === undefined ? undefined : JSON_ESCAPES[next];
  return simple === undefined ? [cp, width] : [simple, 2];
}

/**
 * Every window of 12-19 digits of one sequence that passes Luhn, or is a UnionPay number (UnionPay issues
 * numbers that fail Luhn; the vault accepts them), as [first, last] digit indexes, in order of their last
 * digit. `onWindow` may stop the walk by returning false.
 */
function luhnWindows(digits: string, onWindow: (first: number, last: number) => boolean | void): void {
  const n = digits.length;
  // A window's Luhn sum adds its digits of the check digit's parity as they are and doubles the others.
  // evenPlain[k] sums digits t < k with even t plain and odd t doubled; oddPlain the other way round.
  const evenPlain = new Uint32Array(n + 1);
  const oddPlain = new Uint32Array(n + 1);
  for (let t = 0; t < n; t++) {
    const d = digits.charCodeAt(t) - 48;
    const twice = d < 5 ? 2 * d : 2 * d - 9;
    evenPlain[t + 1] = evenPlain[t]! + (t & 1 ? twice : d);
    oddPlain[t + 1] = oddPlain[t]! + (t & 1 ? d : twice);
  }
  // exempt[k]: the lengths (bit mask) of a Luhn-exempt (UnionPay) number starting at digit k, else 0.
  const exempt = new Uint32Array(n);
  let iin = 0;
  for (let t = 0; t < n; t++) {
    iin = (iin * 10 + digits.charCodeAt(t) - 48) % 1_000_000;
    if (t >= 5) exempt[t - 5] = luhnExemptLengths(iin);
  }
  for (let last = MIN_PAN_DIGITS - 1; last < n; last++) {
    const sums = last & 1 ? oddPlain : evenPlain;
    const to = sums[last + 1]!;
    for (let len = MIN_PAN_DIGITS; len <= MAX_PAN_DIGITS && len <= last + 1; len++) {
      const first = last - len + 1;
      const isCard = (to - sums[first]!) % 10 === 0 || ((exempt[first]! >>> len) & 1) === 1;
      if (isCard && onWindow(first, last) === false) return;
    }
  }
}

/** Every window that is a card number (overlapping ones included). */
export function findPans(text: string, options: PanOptions = {}): PanMatch[] {
  const found: PanMatch[] = [];
  forEachDigitSequence(text, MIN_PAN_DIGITS, ({ digits, starts, ends }) => {
    luhnWindows(digits, (first, last) => {
      const pan = digits.slice(first, last + 1);
      if (!options.cardRangesOnly || inCardRange(pan)) found.push({ start: starts[first]!, end: ends[last]!, digits: pan });
    });
  });
  return found;
}

export function containsPan(text: string, options: PanOptions = {}): boolean {
  let found = false;
  forEachDigitSequence(text, MIN_PAN_DIGITS, ({ digits }) => {
    luhnWindows(digits, (first, last) => {
      if (!options.cardRangesOnly || inCardRange(digits.slice(first, last + 1))) found = true;
      return !found;
    });
    return !found;
  });
  return found;
}

/** Whether free text holds a card number that could be issued (what fields stored in the clear refuse). */
export function containsCardNumber(text: string): boolean {
  return containsPan(text, { cardRangesOnly: true });
}

/**
 * The stretches of text to hide: overlapping card-number windows merged, each from its first digit to its
 * last (separators between included), with the digits it covers.
 */
export function panSpans(text: string, options: PanOptions = {}): PanMatch[] {
  const spans: PanMatch[] = [];
  forEachDigitSequence(text, MIN_PAN_DIGITS, ({ digits, starts, ends }) => {
    // Merged in digit indexes: a window reaches back at most 18 digits, so only the newest spans can merge.
    const merged: Array<[number, number]> = [];
    luhnWindows(digits, (first, last) => {
      if (options.cardRangesOnly && !inCardRange(digits.slice(first, last + 1))) return;
      let from = first;
      while (merged.length > 0 && merged.at(-1)![1] >= first) from = Math.min(from, merged.pop()![0]);
      merged.push([from, last]);
    });
    for (const [first, last] of merged) spans.push({ start: starts[first]!, end: ends[last]!, digits: digits.slice(first, last + 1) });
  });
  return spans;
}

/** The text with each span replaced; spans sorted by start and not overlapping. */
function replaceSpans(text: string, spans: readonly PanMatch[], replace: (span: PanMatch) => string): string {
  if (spans.length === 0) return text;
  const parts: string[] = [];
  let at = 0;
  for (const span of spans) {
    parts.push(text.slice(at, span.start), replace(span));
    at = span.end;
  }
  parts.push(text.slice(at));
  return parts.join('');
}

/** How logs show a number: its last four digits only. */
const lastFourOnly = (span: PanMatch): string => `[PAN ****${span.digits.slice(-4)}]`;

/** How forwarded replies show a number: first six and last four, as PCI DSS 3.4.1 allows for display. */
export const truncated = ({ digits }: PanMatch): string =>
  digits.length <= 10 ? '*'.repeat(digits.length) : `${digits.slice(0, 6)}${'*'.repeat(digits.length - 10)}${digits.slice(-4)}`;

/** The text with every card number masked (by default to its last four digits). */
export function maskPans(text: string, options: PanOptions = {}, replace: (span: PanMatch) => string = lastFourOnly): string {
  return replaceSpans(text, panSpans(text, options), replace);
}
