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

/** The placeholders a text uses, split into known ones and unknown names (typos) under card./networkToken. */
export function placeholdersIn(text: string): { known: Set<Placeholder>; unknown: Set<string> } {
  const known = new Set<Placeholder>();
  const unknown = new Set<string>();
  for (const [, name] of text.matchAll(PATTERN)) {
    if (KNOWN.has(name!)) known.add(name as Placeholder);
    else unknown.add(name!);
  }
  return { known, unknown };
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
