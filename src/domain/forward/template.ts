import { digitEndsAt, digitStartsAt } from '../../card/pan.js';

// forwardRequest's placeholders: `{{card.number}}` and friends in the headers and body of a request are
// replaced by the vault with the card's data just before it is sent. Only names under `card.` and
// `networkToken.` are placeholders; other `{{…}}` text is sent as it is.

import type { Secret } from '../../crypto/secret.js';

const PLACEHOLDERS = [
  'card.number',
  'card.expMonth',
  'card.expYear',
  'card.holderName',
  'card.cvc',
  'networkToken.number',
  'networkToken.expMonth',
  'networkToken.expYear',
  'networkToken.cryptogram',
  'networkToken.eci',
] as const;

export type Placeholder = (typeof PLACEHOLDERS)[number];
/** Card and token numbers and the CVC stay Secrets until a template is rendered. */
export type PlaceholderValues = Partial<Record<Placeholder, string | Secret<string>>>;

/** A placeholder's value as it is sent (and as the answer's masking looks for it). */
export const revealed = (value: string | Secret<string>): string => (typeof value === 'string' ? value : value.reveal());

const KNOWN: ReadonlySet<string> = new Set(PLACEHOLDERS);
const PATTERN = /\{\{\s*((?:card|networkToken)\.[A-Za-z0-9_]*)\s*\}\}/g;

/**
 * The placeholders a text uses, split into known ones and unknown names (typos) under card./networkToken.;
 * and whether `{{card.cvc}}` stands right next to a digit (written or escaped) or another placeholder. An
 * upstream that echoes such a text returns the CVC glued to other digits (`x{{card.cvc}}{{card.expMonth}}`
 * comes back `x73712`), where the masker cannot tell it from any other number: such a template is refused.
 */
export function placeholdersIn(text: string): { known: Set<Placeholder>; unknown: Set<string>; cvcGlued: boolean } {
  const known = new Set<Placeholder>();
  const unknown = new Set<string>();
  let cvcGlued = false;
  const matches = [...text.matchAll(PATTERN)];
  matches.forEach((match, k) => {
    const name = match[1]!;
    if (KNOWN.has(name)) known.add(name as Placeholder);
    else unknown.add(name);
    if (name !== 'card.cvc') return;
    const start = match.index;
    const end = start + match[0].length;
    const previous = matches[k - 1];
    const touchesPlaceholder = (previous !== undefined && previous.index + previous[0].length === start) || matches[k + 1]?.index === end;
    if (touchesPlaceholder || digitEndsAt(text, start) || digitStartsAt(text, end)) cvcGlued = true;
  });
  return { known, unknown, cvcGlued };
}

export type Encoder = (value: string) => string;

/**
 * How values are written into a body of this content type, so that a holder name with a quote or an
 * ampersand cannot break the document: JSON string escaping (without the quotes, which the template has),
 * form encoding, or as is.
 */
export function encoderFor(contentType: string | undefined): Encoder {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) return (v) => JSON.stringify(v).slice(1, -1);
  if (type === 'application/x-www-form-urlencoded') return encodeURIComponent;
  return (v) => v;
}

/** Replaces every known placeholder; the caller made sure each one used has a value. */
export function render(text: string, values: PlaceholderValues, encode: Encoder): string {
  return text.replace(PATTERN, (match, name: string) => {
    const value = values[name as Placeholder];
    return value === undefined ? match : encode(revealed(value));
  });
}
