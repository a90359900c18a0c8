import { inCardRange, luhnExemptLengths } from './brands.js';

// The one card-number detector: logs, free-text validation, forwarding and the tests' scan all ask it.
//
// A card number is any 12-19 digit window of a *digit sequence* that passes Luhn (or is a UnionPay number,
// which need not: UnionPay issues numbers that fail it), whatever stands around it
// (letters, underscores, more digits): `pay_4242…`, `x4242…y` and a number inside a longer digit run are all
// found. A digit sequence is digits with at most MAX_GAP separator characters between neighbours.
//
// Characters are classified by Unicode property, not by a list of the separators someone thought of:
// - a digit is any decimal digit of any script (\p{Nd}: ASCII, fullwidth ４, mathematical 𝟒, Arabic-Indic ٤,
//   Devanagari ४, Bengali ৪…), with its numeric value, or a character NFKC folds to one (superscript ⁴, ④);
// - a letter (\p{L}, or a character that folds to letters, like Ⅻ) ends a sequence;
// - everything else is a separator: punctuation, symbols, spaces and line breaks of every kind, controls (NUL,
//   which is what UTF-16 read as bytes puts between digits), format characters (zero-width space, word joiner,
//   soft hyphen), combining marks. So `4111\n1111`, `4111,1111`, `(4111) 1111`, `4111•1111` and
//   `4111____1111` are all one sequence.
// JSON and URL escapes (\u0034, \uD835\uDFD2, \t, %20, %E2%80%8B) count as the characters they encode; `+`
// (a form-encoded space) is a separator like the space it stands for.
//
// One left-to-right pass: each digit is the end of at most 8 windows (lengths 12-19) and each window's Luhn
// sum is read from prefix sums in O(1), so finding and masking are linear in the text whatever it holds.

const MIN_PAN_DIGITS = 12;
const MAX_PAN_DIGITS = 19;
/**
 * Separator characters allowed between two digits of one number. "4111 - 1111" has three, a tab expanded to
 * spaces or a row of underscores up to eight; 8 covers every way people and programs group a number's digits
 * (the widest seen is a tab stop's worth of padding) while keeping apart numbers that a longer stretch of
 * layout separates (columns of a table, a list of amounts). Letters end a sequence whatever the gap.
 */
const MAX_GAP = 8;

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
// ASCII: digits, letters (OTHER), and everything else (punctuation, symbols, space, controls) a separator.
const ASCII_CLASS = Int8Array.from({ length: 128 }, (_, cp) =>
  cp >= 48 && cp <= 57 ? cp - 48 : (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122) ? OTHER : SEPARATOR,
);
const DECIMAL_DIGIT = /^\p{Nd}$/u;
const LETTER = /\p{L}/u;
const nonAscii = new Map<number, number>();

/** A code point's class: its digit value, SEPARATOR or OTHER (a letter). */
function classify(cp: number): number {
  if (cp < 128) return ASCII_CLASS[cp]!;
  let c = nonAscii.get(cp);
  if (c === undefined) {
    c = classifyNonAscii(cp);
    if (nonAscii.size < 4096) nonAscii.set(cp, c);
  }
  return c;
}

function classifyNonAscii(cp: number): number {
  const ch = String.fromCodePoint(cp);
  if (DECIMAL_DIGIT.test(ch)) {
    // Unicode encodes every script's decimal digits as runs of ten consecutive code points from its zero
    // (a stability guarantee; several runs may follow each other, as the mathematical digits do): the value
    // is the distance from the start of the run, modulo 10. At most 50 steps back, once per code point.
    let zero = cp;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
    return (cp - zero) % 10;
  }
  const folded = ch.normalize('NFKC');
  if (folded.length === 1 && folded >= '0' && folded <= '9') return folded.charCodeAt(0) - 48;
  return LETTER.test(ch) || LETTER.test(folded) ? OTHER : SEPARATOR;
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

/** How digits are grouped into sequences. */
export interface SequenceOptions {
  /** Separator characters allowed between two digits (default MAX_GAP; 0 for runs of contiguous digits). */
  maxGap?: number;
  /**
   * Letters are separators too, and any gap is allowed: the text's digits-only projection, one sequence of
   * every digit in it (for finding an exact value however an upstream spread its digits out).
   */
  digitsOnly?: boolean;
  /** Characters that end a sequence as a letter does (the free-text refusal's field and time delimiters). */
  breaks?: ReadonlySet<number>;
}

const EMPTY_CODES = new Uint8Array(0);
const EMPTY_POSITIONS = new Int32Array(0);

/** Calls `visit` with every digit sequence of at least `minDigits` digits, left to right; `false` stops. */
export function forEachDigitSequence(
  text: string,
  minDigits: number,
  visit: (seq: DigitSequence) => boolean | void,
  { maxGap = MAX_GAP, digitsOnly = false, breaks }: SequenceOptions = {},
): void {
  // A digit takes at least one character: shorter text cannot hold a sequence (most logged strings).
  if (text.length < minDigits) return;
  const allowedGap = digitsOnly ? Number.POSITIVE_INFINITY : maxGap;
  // Digits are collected in growable typed arrays (a string grown a character at a time, or arrays of
  // boxed positions, cost more in garbage than the scan itself on a long run), made at the first digit.
  let codes = EMPTY_CODES;
  let starts = EMPTY_POSITIONS;
  let ends = EMPTY_POSITIONS;
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
      if (gap > allowedGap) flush();
      if (stop) break;
      if (count === codes.length) {
        const size = Math.max(64, count * 2);
        codes = grow(codes, new Uint8Array(size));
        starts = grow(starts, new Int32Array(size));
        ends = grow(ends, new Int32Array(size));
      }
      codes[count] = 48 + c;
      starts[count] = i;
      ends[count] = i + width;
      count++;
      gap = 0;
    } else if ((c === SEPARATOR && !breaks?.has(cp)) || digitsOnly) {
      if (count > 0) gap++;
    } else if (count > 0) {
      flush();
    }
    i += width;
  }
  if (!stop) flush();
}

/** Whether the character at `start` (or the JSON/URL escape starting there) reads as a digit. */
export function digitStartsAt(text: string, start: number): boolean {
  if (start < 0 || start >= text.length) return false;
  const cp = text.codePointAt(start)!;
  return classify(cp === 92 || cp === 37 ? escaped(text, start, cp, cp > 0xffff ? 2 : 1)[0] : cp) >= 0;
}

/** Whether the character (or the JSON/URL escape) that ends right before `end` reads as a digit. */
export function digitEndsAt(text: string, end: number): boolean {
  // A character takes 1 or 2 code units; an escape 3, 6, 9 or 12 (%XX, %XX%XX…, \uXXXX, a \u surrogate pair).
  for (const back of [1, 2, 3, 6, 9, 12]) {
    const at = end - back;
    if (at < 0) break;
    let cp = text.codePointAt(at)!;
    let width = cp > 0xffff ? 2 : 1;
    if (cp === 92 || cp === 37) [cp, width] = escaped(text, at, cp, width);
    if (at + width === end && classify(cp) >= 0) return true;
  }
  return false;
}

const latin1 = new TextDecoder('latin1');

function grow<T extends Uint8Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

const JSON_ESCAPES: Record<string, number> = { t: 9, n: 10, r: 13, b: 8, f: 12, '/': 47, '\\': 92, '"': 34 };
const HEX = /^[0-9a-fA-F]+$/;

/**
 * The character an escape at `i` stands for, and how many characters it takes: JSON's \t, \/, \u0034 (and
 * a surrogate pair \uD835\uDFD2) and URL's %34 (and UTF-8 sequences, %EF%BC%94) are read as what they
 * encode, so `\u0034\u0032…` in a JSON log line or an upstream's answer, and digits separated by `\n` or
 * `%20`, are numbers like any other. Anything else is the character itself.
 */
function escaped(text: string, i: number, cp: number, width: number): [number, number] {
  if (cp === 37) return percentEscaped(text, i) ?? [cp, width];
  // A run of backslashes before an escape is the escape escaped again (a JSON string inside a JSON string,
  // as a log line holds a message that held JSON): `\\n` and `\\u0034` read as `\n` and `\u0034` do. A run
  // followed by no escape is read as one separator, so a long run costs one pass, not one per backslash.
  let at = i;
  while (text[at + 1] === '\\') at++;
  const next = text[at + 1];
  if (next === 'u') {
    const unit = hexAt(text, at + 2, 4);
    if (unit === undefined) return [cp, at - i + 1];
    if (unit >= 0xd800 && unit < 0xdc00) {
      // A surrogate pair: the low half escaped the same way.
      let low = at + 6;
      for (let k = i; k < at && text[low] === '\\'; k++) low++;
      const half = text[low] === '\\' && text[low + 1] === 'u' ? hexAt(text, low + 2, 4) : undefined;
      if (half !== undefined && half >= 0xdc00 && half < 0xe000) return [0x10000 + ((unit - 0xd800) << 10) + (half - 0xdc00), low + 6 - i];
    }
    return [unit, at - i + 6];
  }
  const simple = next === undefined ? undefined : JSON_ESCAPES[next];
  if (simple !== undefined) return [simple, at - i + 2];
  // Backslashes before a control character (a line break, a tab) read with it as that character alone, as
  // JSON writes the pair (`\\\n`): the text is read the same raw as once stored, logged or sent as JSON.
  const control = next === undefined ? 0x20 : next.charCodeAt(0);
  return control < 0x20 ? [control, at - i + 2] : [cp, at - i + 1];
}

/** `%XX`, or a UTF-8 sequence of them; a byte that starts no valid sequence reads as a control (a separator). */
function percentEscaped(text: string, i: number): [number, number] | undefined {
  const lead = hexAt(text, i + 1, 2);
  if (lead === undefined) return undefined;
  if (lead < 0x80) return [lead, 3];
  const length = lead >= 0xf8 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  let cp = lead & (0xff >> (length + 1));
  for (let k = 1; k < length; k++) {
    const byte = text[i + 3 * k] === '%' ? hexAt(text, i + 3 * k + 1, 2) : undefined;
    if (byte === undefined || byte < 0x80 || byte >= 0xc0) return [0x80, 3];
    cp = (cp << 6) | (byte & 0x3f);
  }
  return length === 1 || cp > 0x10ffff ? [0x80, 3] : [cp, 3 * length];
}

function hexAt(text: string, at: number, length: number): number | undefined {
  const hex = text.slice(at, at + length);
  return hex.length === length && HEX.test(hex) ? parseInt(hex, 16) : undefined;
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

export function containsPan(text: string, options: PanOptions = {}, sequences: SequenceOptions = {}): boolean {
  let found = false;
  forEachDigitSequence(
    text,
    MIN_PAN_DIGITS,
    ({ digits }) => {
      luhnWindows(digits, (first, last) => {
        if (!options.cardRangesOnly || inCardRange(digits.slice(first, last + 1))) found = true;
        return !found;
      });
      return !found;
    },
    sequences,
  );
  return found;
}

/**
 * What free text refuses, unlike what logs mask, must not catch ordinary data: `:`, `,` and `;` end a number
 * here, so times (`2026-11-30 10:30:06.964417+00`), lists and phone-number-plus-date fields are not read as
 * one long digit run that some card window happens to fit. A number written with them between its groups is
 * still masked wherever it is logged or forwarded.
 */
const FREE_TEXT_BREAKS: ReadonlySet<number> = new Set([':', ',', ';'].map((c) => c.codePointAt(0)!));

/** Whether free text holds a card number that could be issued (what fields stored in the clear refuse). */
export function containsCardNumber(text: string): boolean {
  return containsPan(text, { cardRangesOnly: true }, { breaks: FREE_TEXT_BREAKS });
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
