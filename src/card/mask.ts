import { type DigitSequence, forEachDigitSequence, panSpans, truncated } from './pan.js';

// Masks card data in what an upstream answers (to forwardRequest, before it reaches the caller; a connector's
// authorization, before it is stored):
// - the exact values the vault sent (card number, network token, CVC, cryptogram), however the upstream
//   wrote them back: formatted or fullwidth, as UTF-16 read byte-wise, %-encoded or as JSON \u escapes (the
//   PAN detector's digit sequences read all of these), with its digits spread out among any other characters
//   (the reply's digits-only projection), in base64 (either alphabet, any alignment) or hex, and the CVC
//   wherever it is a run of digits of its own, whatever the field (a bank account number of 5 to 11 digits
//   likewise);
// - any other number that could be a card (the PAN detector with card ranges, so ids and timestamps survive);
// - CVC-named fields.
// Every finder is one linear scan and the reply is rebuilt once, so a hostile reply costs time in proportion
// to its size. A number keeps its first six and last four digits, as PCI DSS allows; other values become '*'.

const CVC_FIELD =
  /((?:["']|\b)(?:card[_-]?)?(?:cvc2?|cvv2?|csc|cid|security[_-]?code|verification[_-]?value)["']?\s*[:=]\s*["']?)(\d{3,4})/gi;

/** The shortest number the vault fills in (a card number or network token: 12-19 digits). */
const MIN_NUMBER_DIGITS = 12;

interface Span {
  start: number;
  end: number;
  /** Digits are shown truncated; anything else (an encoded value) is starred out. */
  opaque: boolean;
}

export interface MaskOptions {
  /**
   * Also mask what looks like card data whatever was sent (any number in a card range, CVC-named fields);
   * default true. Off for an upstream's ids (a PSP reference, a redirect URL), which must keep working: one
   * numeric reference in ten is Luhn-valid by chance, so only the exact values sent are masked there.
   */
  patterns?: boolean;
}

/**
 * `secrets`: the values the vault filled in (card numbers and network tokens of 12-19 digits, a 3-4 digit CVC
 * or a 5-11 digit account number, other strings such as a cryptogram, a PSP token or an IBAN).
 */
export function maskCardData(text: string, secrets: readonly string[] = [], { patterns = true }: MaskOptions = {}): string {
  const numbers = unique(secrets.filter((s) => /^\d{12,19}$/.test(s)));
  const shortNumbers = unique(secrets.filter((s) => /^\d{3,11}$/.test(s)));
  const others = unique(secrets.filter((s) => s.length >= 8 && !/^\d+$/.test(s)));
  const spans: Span[] = patterns ? panSpans(text, { cardRangesOnly: true }).map(({ start, end }) => ({ start, end, opaque: false })) : [];

  // The exact numbers sent, in the reply's digits-only projection (every non-digit dropped, escapes decoded,
  // positions kept): however an upstream spread the digits out (`4111,1111,…`, one per line, a JSON array
  // of single digits, digits between letters), they stand together there. Every digit sequence the PAN
  // detector reads is a stretch of this projection, so separators of every kind are covered too.
  if (numbers.length > 0) {
    forEachDigitSequence(
      text,
      MIN_NUMBER_DIGITS,
      ({ digits, starts, ends }) => {
        for (const number of numbers) {
          for (let at = digits.indexOf(number); at >= 0; at = digits.indexOf(number, at + 1)) {
            spans.push({ start: starts[at]!, end: ends[at + number.length - 1]!, opaque: false });
          }
        }
      },
      { digitsOnly: true },
    );
  }
  // The CVC or a short account number (which would otherwise be in many longer numbers, so it is looked for
  // as a whole, never inside a longer run): wherever it is a maximal run of contiguous digits (`x737/12`,
  // `"737"`), and wherever it is a whole digit sequence written with separators (`7 3 7`).
  if (shortNumbers.length > 0) {
    const whole = ({ digits, starts, ends }: DigitSequence) => {
      if (shortNumbers.includes(digits)) spans.push({ start: starts[0]!, end: ends.at(-1)!, opaque: false });
    };
    forEachDigitSequence(text, 3, whole, { maxGap: 0 });
    forEachDigitSequence(text, 3, whole);
  }
  for (const needle of [...numbers.flatMap(encodings), ...others.flatMap(textEncodings)]) {
    for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) {
      spans.push({ start: at, end: at + needle.length, opaque: true });
    }
  }
  if (patterns) {
    for (const m of text.matchAll(CVC_FIELD)) {
      const end = m.index + m[0].length;
      spans.push({ start: end - m[2]!.length, end, opaque: false });
    }
  }
  return rebuild(text, spans);
}

/**
 * The number as an upstream may have re-encoded it beyond what the digit sequences read (those decode JSON and
 * URL escapes): base64 in both alphabets, at each alignment, and hex.
 */
function encodings(number: string): string[] {
  const out = new Set<string>();
  // Base64 writes 3 bytes as 4 characters; wherever the number starts, one of these runs appears whole.
  for (let skip = 0; skip < 3; skip++) {
    const aligned = number.slice(skip, skip + Math.floor((number.length - skip) / 3) * 3);
    const b64 = Buffer.from(aligned, 'latin1').toString('base64');
    out.add(b64);
    out.add(b64.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  out.add(Buffer.from(number, 'latin1').toString('hex'));
  out.add(Buffer.from(number, 'latin1').toString('hex').toUpperCase());
  return [...out];
}

/** A non-numeric secret (a cryptogram) as written, JSON-escaped, form-encoded and in base64. */
function textEncodings(value: string): string[] {
  return unique([
    value,
    JSON.stringify(value).slice(1, -1),
    value.replace(/\//g, '\\/'),
    encodeURIComponent(value),
    Buffer.from(value).toString('base64').replace(/=+$/, ''),
  ]);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Overlapping spans merged; the text rebuilt once with each masked. */
function rebuild(text: string, spans: Span[]): string {
  if (spans.length === 0) return text;
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const parts: string[] = [];
  let at = 0;
  let current: Span | undefined;
  const emit = (span: Span) => {
    parts.push(text.slice(at, span.start), masked(text.slice(span.start, span.end), span.opaque));
    at = span.end;
  };
  for (const span of spans) {
    if (current && span.start < current.end) {
      current = { start: current.start, end: Math.max(current.end, span.end), opaque: current.opaque || span.opaque };
      continue;
    }
    if (current) emit(current);
    current = { ...span };
  }
  emit(current!);
  parts.push(text.slice(at));
  return parts.join('');
}

function masked(stretch: string, opaque: boolean): string {
  if (opaque) return '*'.repeat(stretch.length);
  let digits = '';
  forEachDigitSequence(stretch, 1, (seq) => {
    digits += seq.digits;
  });
  return digits.length >= 12 ? truncated({ start: 0, end: 0, digits }) : '***';
}
