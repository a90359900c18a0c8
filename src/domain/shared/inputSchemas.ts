// The shared field schemas of every input (text, metadata, addresses, the card) and the `validate` helper that
// turns zod issues into field errors; each aggregate builds its own inputs from them (domain/<aggregate>/inputs.ts).
//
// Conventions:
// - Every issue carries a ValidationCode in `params.code`; issues without one are INVALID_INPUT.
// - Messages are always ours (explicit, or from `messageFor`) and never contain the input value.
// - Create-style inputs: null, undefined and blank strings all mean "not given" (undefined in the output).
//   Update-style inputs: undefined means "leave as is", null or a blank string means "clear" (null).
// - Cross-field refinements run even when some fields failed, so every failing field is reported; they
//   only read fields that passed their own schema.
// - Expiry: a bad month and CARD_EXPIRED are reported on `expMonth`, a bad year on `expYear`.

import { z } from 'zod';
import { Code, VALIDATION_CODES, type ValidationCode } from './errors.js';
import { containsCardNumber } from '../../card/pan.js';
import { containsIban } from '../../card/bankAccount.js';
import { Secret } from '../../crypto/secret.js';
import { bin, checkCardNumber, cvcLengths, last4 } from '../../card/number.js';
import { isCountryCode } from '../../card/countries.js';
import { expiryIssues, fullExpYear } from '../../card/expiry.js';

const VALIDATION_CODE_SET: ReadonlySet<unknown> = new Set(VALIDATION_CODES);

export interface FieldIssue {
  path: string[];
  code: ValidationCode;
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; fields: FieldIssue[] };

// The time expiry checks compare against, a parameter of one `validate` call: set around its (synchronous)
// parse and cleared after, so it never outlives the call and holds no state between calls. The time itself
// comes from the caller (domain functions pass `app.clock()`). Not a schema parameter because the schemas
// are built once: zod compiles a schema on its first parse, and one built per call recompiles every time (in
// the profile this was most of a tokenization's validation cost); zod 4 passes no context to refinements.
let clock: Date | undefined;
export const validationTime = (): Date => clock ?? new Date();

/**
 * Parses `input`, listing every failing field with its full path (`basePath` + the path inside the input).
 * Expiry checks compare against `opts.now`, by default the real clock.
 */
export function validate<S extends z.ZodType>(
  schema: S,
  input: unknown,
  basePath: string[],
  opts: { now?: Date } = {},
): Validated<z.output<S>> {
  let result: z.ZodSafeParseResult<z.output<S>>;
  clock = opts.now ?? new Date();
  try {
    result = schema.safeParse(input, { error: messageFor });
  } finally {
    clock = undefined;
  }
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    fields: result.error.issues.map((issue) => ({
      path: [...basePath, ...issue.path.map(String)],
      code: codeOf(issue),
      message: issue.message,
    })),
  };
}

function codeOf(issue: z.core.$ZodIssue): ValidationCode {
  const code: unknown = issue.code === 'custom' ? issue.params?.code : undefined;
  return VALIDATION_CODE_SET.has(code) ? (code as ValidationCode) : Code.INVALID_INPUT;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  record: 'an object',
  array: 'a list',
};

/** Messages for issues raised by zod itself; built from the schema's constraints only, never the input. */
export const messageFor: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'Required' : `Must be ${TYPE_NAMES[issue.expected] ?? 'of another type'}`;
    case 'too_big':
      return `Must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}${unitOf(issue.origin)}`;
    case 'too_small':
      return `Must be ${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum}${unitOf(issue.origin)}`;
    case 'invalid_format':
      return issue.format === 'email' ? 'Must be a valid email address' : 'Has an invalid format';
    case 'invalid_value':
      return `Must be one of: ${issue.values.map(String).join(', ')}`;
    default:
      return 'Invalid value';
  }
};

function unitOf(origin: string): string {
  if (origin === 'string') return ' characters';
  if (origin === 'array' || origin === 'set') return ' items';
  return '';
}

export function coded(code: ValidationCode, message: string) {
  return { message, params: { code } };
}

type Issues = readonly { path?: readonly PropertyKey[] | undefined }[];

/** Refinement options: run even after some fields failed, but not when the value itself was refused. */
export const crossField = {
  when: (payload: { issues: Issues }) => payload.issues.every((issue) => (issue.path?.length ?? 0) > 0),
};

/** Whether a top-level field passed its own schema (only then does the refined value hold its output). */
export function passedField(ctx: { issues: Issues }): (key: string) => boolean {
  const failed = new Set(ctx.issues.map((issue) => issue.path?.[0]));
  return (key) => !failed.has(key);
}

// ---------------------------------------------------------------------------------------------------------
// Field schemas

interface Charset {
  forbidden: RegExp;
  message: string;
}

const SINGLE_LINE: Charset = { forbidden: /\p{Cc}/u, message: 'Must not contain control characters' };
export const MULTI_LINE: Charset = {
  forbidden: /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/,
  message: 'Must not contain control characters other than tabs and line breaks',
};
// Identifiers: no controls, format characters (zero-width, bidi), private-use or unassigned code points.
export const PRINTABLE: Charset = { forbidden: /\p{C}/u, message: 'Must contain only printable characters' };

// Half of a UTF-16 surrogate pair: not text. PostgreSQL refuses it in jsonb, and UTF-8 cannot carry it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NOT_UNICODE = 'Must be valid Unicode text (it has an unpaired surrogate)';
const HOLDS_CARD = 'Must not contain a card number (card numbers go in card.number, where they are encrypted)';
const HOLDS_IBAN = 'Must not contain an IBAN (IBANs go in bankAccount.iban, where they are encrypted)';

/** A trimmed string of at most `max` characters. */
export function text(max: number, charset: Charset = SINGLE_LINE) {
  // Over the limit, nothing else is checked (zod runs every refinement): scanning 1 MB of digits and commas
  // for card numbers took 2 s. (`abort` on max would also stop the object's own checks.)
  const checks: [ok: (s: string) => boolean, message: string][] = [
    [(s) => !LONE_SURROGATE.test(s), NOT_UNICODE],
    [(s) => !charset.forbidden.test(s), charset.message],
    [(s) => !containsCardNumber(s), HOLDS_CARD],
    [(s) => !containsIban(s), HOLDS_IBAN],
  ];
  return checks.reduce((schema, [ok, message]) => schema.refine((s) => s.length > max || ok(s), message), z.string().trim().max(max));
}

const isBlank = (v: unknown): boolean => typeof v === 'string' && v.trim() === '';

/** Create semantics: null, undefined and blank strings all mean "not given" (undefined). */
export function optional<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === null || isBlank(v) ? undefined : v), schema.optional());
}

/** Update semantics: undefined leaves the stored value as is; null or a blank string clears it (null). */
export function clearable<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (isBlank(v) ? null : v), schema.nullish());
}

const countrySchema = z.string().trim().toUpperCase().refine(isCountryCode, 'Must be an ISO 3166-1 alpha-2 country code');

export const emailSchema = z.string().trim().max(254).pipe(z.email('Must be a valid email address'));

// Two simple tests rather than one regex with a required digit, to keep matching linear on long input.
export const phoneNumberSchema = z
  .string()
  .trim()
  .max(30)
  .refine((s) => /^[\d ()-]+$/.test(s) && /\d/.test(s), 'Must contain digits, optionally with spaces, dashes and parentheses');

export const phoneCountryCodeSchema = z
  .string()
  .trim()
  .regex(/^\+\d{1,4}$/, 'Must be a "+" followed by 1 to 4 digits');

const cardNumberSchema = z.string().transform((raw, ctx) => {
  const result = checkCardNumber(raw);
  if (result.ok) return { digits: result.digits, brand: result.brand };
  ctx.addIssue({ code: 'custom', ...coded('INVALID_CARD_NUMBER', result.message) });
  return z.NEVER;
});

// The length per brand is checked against the number in cardInputSchema.
const cvcSchema = z
  .string()
  .trim()
  .refine((s) => /^\d{3,4}$/.test(s), coded('INVALID_CVC', 'CVC must be 3 or 4 digits'));

const cardTypeSchema = z.enum(['CREDIT', 'DEBIT', 'PREPAID']);

/** Adds the issues of an expiry whose parts are undefined when absent or already failed. */
export function addExpiryIssues(ctx: z.core.$RefinementCtx, month: number | undefined, year: number | undefined, now: Date): void {
  for (const issue of expiryIssues(month, year, now)) {
    ctx.addIssue({ code: 'custom', path: [issue.field], ...coded(issue.code, issue.message) });
  }
}

// URLs

function isHttpUrl(s: string): boolean {
  if (!URL.canParse(s)) return false;
  const { protocol } = new URL(s);
  return protocol === 'http:' || protocol === 'https:';
}

export const httpUrlSchema = text(2000).refine(isHttpUrl, 'Must be an absolute http or https URL');

/** user:password@ in a URL: credentials that end up in logs, browsers' histories and Referer headers. */
export function hasCredentials(s: string): boolean {
  if (!URL.canParse(s)) return false;
  const { username, password } = new URL(s);
  return username !== '' || password !== '';
}

// ---------------------------------------------------------------------------------------------------------
// Metadata: flat like Stripe's, so it can be indexed and shown without surprises.

export type MetadataValue = string | number | boolean | null;

const METADATA_MAX_KEYS = 50;
const METADATA_MAX_KEY_LENGTH = 40;
const METADATA_MAX_VALUE_LENGTH = 500;

function metadataEntryProblem(key: string, value: unknown): string | undefined {
  if (
    key.length === 0 ||
    key.length > METADATA_MAX_KEY_LENGTH ||
    SINGLE_LINE.forbidden.test(key) ||
    LONE_SURROGATE.test(key) ||
    containsCardNumber(key) ||
    containsIban(key)
  ) {
    return `Metadata keys must have 1 to ${METADATA_MAX_KEY_LENGTH} characters of valid text and no control characters`;
  }
  if (typeof value === 'string') {
    if (value.length > METADATA_MAX_VALUE_LENGTH) {
      return `Metadata values must be at most ${METADATA_MAX_VALUE_LENGTH} characters`;
    }
    if (LONE_SURROGATE.test(value)) return NOT_UNICODE;
    if (containsCardNumber(value)) return HOLDS_CARD;
    if (containsIban(value)) return HOLDS_IBAN;
    return MULTI_LINE.forbidden.test(value) ? MULTI_LINE.message : undefined;
  }
  const scalar = value === null || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
  if (!scalar) return 'Metadata values must be a string, a number, a boolean or null';
  // Both as stored and as JSON prints it (the answers, webhook payloads): 4.111111111111111e-50.
  return typeof value === 'number' && (containsCardNumber(asStored(value)) || containsCardNumber(String(value))) ? HOLDS_CARD : undefined;
}

/**
 * A number as PostgreSQL's jsonb prints it: every digit written out (1e+21 is stored as 1 and 21 zeros), so
 * the check sees the digit run a dump or a reader would.
 */
function asStored(value: number): string {
  const [mantissa, exponent] = String(value).split('e');
  if (exponent === undefined) return mantissa!;
  const negative = mantissa!.startsWith('-');
  const [whole, fraction = ''] = mantissa!.replace('-', '').split('.');
  const digits = whole! + fraction;
  const point = whole!.length + Number(exponent);
  const plain =
    point >= digits.length
      ? digits + '0'.repeat(point - digits.length)
      : point <= 0
        ? `0.${'0'.repeat(-point)}${digits}`
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${plain}` : plain;
}

// Values are typed by z.custom and checked in the refinement, which reports each key with its own message.
export const metadataSchema = z.record(z.string(), z.custom<MetadataValue>()).superRefine((metadata, ctx) => {
  const keys = Object.keys(metadata);
  if (keys.length > METADATA_MAX_KEYS) {
    ctx.addIssue({ code: 'custom', message: `Metadata can have at most ${METADATA_MAX_KEYS} keys` });
  }
  for (const key of keys) {
    const problem = metadataEntryProblem(key, metadata[key]);
    if (!problem) continue;
    // A key holding card or account data is not repeated in the error's path, nor one far over the length
    // limit (which is not scanned either: a 1 MB key of digits and commas took 2 s to scan).
    const path = key.length > 1_000 || containsCardNumber(key) || containsIban(key) ? [] : [key];
    ctx.addIssue({ code: 'custom', path, message: problem });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Addresses, phones, billing

export const addressInputSchema = z.object({
  line1: optional(text(200)),
  line2: optional(text(200)),
  line3: optional(text(200)),
  city: optional(text(100)),
  state: optional(text(100)),
  zip: optional(text(20)),
  country: optional(countrySchema),
  firstName: optional(text(100)),
  lastName: optional(text(100)),
});

const phoneInputSchema = z.object({
  number: optional(phoneNumberSchema),
  countryCode: optional(phoneCountryCodeSchema),
});

export const billingInputSchema = z.object({
  address: optional(addressInputSchema),
  phone: optional(phoneInputSchema),
  email: optional(emailSchema),
});

// ---------------------------------------------------------------------------------------------------------
// Cards and payment methods

export const cardInputSchema = z
  .object({
    number: cardNumberSchema,
    expMonth: z.int(),
    expYear: z.int(),
    cvc: optional(cvcSchema),
    holderName: optional(text(100)),
    nickName: optional(text(100)),
    issuer: optional(text(100)),
    issuingCountry: optional(countrySchema),
    cardType: optional(cardTypeSchema),
  })
  .superRefine((card, ctx) => {
    const passed = passedField(ctx);
    addExpiryIssues(ctx, passed('expMonth') ? card.expMonth : undefined, passed('expYear') ? card.expYear : undefined, validationTime());
    if (passed('number') && passed('cvc') && card.cvc !== undefined) {
      const lengths = cvcLengths(card.number.brand);
      if (!lengths.includes(card.cvc.length)) {
        const message = `CVC must be ${lengths.join(' or ')} digits for ${card.number.brand} cards`;
        ctx.addIssue({ code: 'custom', path: ['cvc'], ...coded('INVALID_CVC', message) });
      }
    }
  }, crossField)
  // From here on the number and the CVC are Secrets (they redact themselves in logs, JSON and errors); only
  // sealing, fingerprints, a connector's wire call, forwarding and revealCard's answer reveal them.
  .transform(({ number, cvc, expYear, ...rest }) => ({
    ...rest,
    number: new Secret(number.digits),
    cvc: cvc === undefined ? undefined : new Secret(cvc),
    brand: number.brand,
    bin: bin(number.digits),
    last4: last4(number.digits),
    expYear: fullExpYear(expYear),
  }));

// ---------------------------------------------------------------------------------------------------------
// Output types for the domain layer

export type CardInput = z.output<typeof cardInputSchema>;
