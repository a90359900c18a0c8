import { luhnValid } from '../validation/card.js';

// Masks card data in what an upstream answers to forwardRequest before it reaches the caller: the numbers
// the vault sent (card and network token, however they are formatted), any other Luhn-valid 13-19 digit
// number in a card range (first digit 2-6; so that timestamps and ids starting with 1 survive), and CVC-named
// fields. A number keeps its first six and last four digits, as PCI DSS allows.

// Digits with single spaces or dashes between them, not glued to other digits or letters.
const DIGIT_RUN = /(?<![\w-])[2-6](?:[ -]?\d){12,}(?![\w])/g;
const CVC_FIELD = /((?:["']|\b)(?:card[_-]?)?(?:cvc2?|cvv2?|csc|cid|security[_-]?code|verification[_-]?value)["']?\s*[:=]\s*["']?)\d{3,4}/gi;

function masked(digits: string): string {
  return `${digits.slice(0, 6)}${'*'.repeat(digits.length - 10)}${digits.slice(-4)}`;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `secrets`: numbers the vault sent (masked wherever they appear, even inside longer digit strings). */
export function maskCardData(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (!/^\d{12,19}$/.test(secret)) continue;
    const formatted = new RegExp([...secret].map(escapeRegex).join('[ -]?'), 'g');
    out = out.replace(formatted, () => masked(secret));
  }
  out = out.replace(DIGIT_RUN, maskRun);
  return out.replace(CVC_FIELD, '$1***');
}

/**
 * A run may be a card number followed by more digits ("4111 1111 1111 1111 12"): the longest Luhn-valid
 * prefix of 13+ digits that ends at a separator or at the end of the run is the card.
 */
function maskRun(run: string): string {
  const ends = [run.length, ...[...run.matchAll(/[ -]/g)].map((m) => m.index!).reverse()];
  for (const end of ends) {
    const digits = run.slice(0, end).replace(/[ -]/g, '');
    if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) return masked(digits) + run.slice(end);
  }
  return run;
}
