import { Secret } from '../crypto/secret.js';
import type { Prisma } from '../generated/prisma/client.js';
import type { CardBrand, CardType } from '../generated/prisma/enums.js';

/**
 * The one place that says which columns hold ciphertext. The encryption extension seals these on every
 * write; reads return the envelope until a domain read path explicitly opens a field.
 */
export const ENCRYPTED_FIELDS = {
  Customer: ['name', 'email', 'phone', 'phoneCountryCode', 'defaultBillingAddress', 'defaultShippingAddress'],
  PaymentMethod: ['cardNumber', 'cardExpiry', 'holderName', 'nickName', 'billing', 'accountNumber'],
  CardToken: ['cardNumber', 'cardExpiry', 'holderName', 'nickName', 'cvc', 'billing'],
  // redirectUrl carries the challenge secret while a payment awaits its challenge.
  Payment: ['cardExpiry', 'holderName', 'pendingCard', 'redirectUrl'],
  IdempotencyKey: ['response'],
  PspToken: ['token'],
  NetworkToken: ['number', 'expiry'],
  WebhookEndpoint: ['secret'],
} as const satisfies Partial<Record<Prisma.ModelName, readonly string[]>>;

export type EncryptedModel = keyof typeof ENCRYPTED_FIELDS;
export type EncryptedField<M extends EncryptedModel> = (typeof ENCRYPTED_FIELDS)[M][number];

export function encryptedFieldsOf(model: string): readonly string[] | undefined {
  return (ENCRYPTED_FIELDS as Record<string, readonly string[]>)[model];
}

// ---------------------------------------------------------------------------------------------------------
// What each encrypted field holds, and how it becomes the plaintext that is sealed. Writers encode with
// `encodeField`; `openField` (encryption.ts) decodes, so no caller converts the plaintext itself. The plaintext
// of every field is exactly what it was before codecs existed (rows sealed then still open to the same values):
// strings as they are, JSON objects as JSON.stringify writes them, keys in the order given here.

/** A field's value and its plaintext. */
interface Codec<T> {
  encode(value: T): string;
  decode(plaintext: string): T;
}

/** `{ month, year }` (the year in four digits), as cards and network tokens store their expiry. */
interface Expiry {
  month: number;
  year: number;
}

export interface Address {
  line1?: string | null;
  line2?: string | null;
  line3?: string | null;
  city?: string | null;
  state?: string | null;
  zip?: string | null;
  country?: string | null;
  firstName?: string | null;
  lastName?: string | null;
}

export interface Billing {
  address?: Address | null;
  phone?: { number?: string | null; countryCode?: string | null } | null;
  email?: string | null;
}

/** A card as a payment keeps it until its challenge succeeds and saveCard stores it: never its CVC. */
interface PendingCard {
  card: {
    number: Secret<string>;
    expMonth: number;
    expYear: number;
    holderName?: string;
    nickName?: string;
    issuer?: string;
    issuingCountry?: string;
    cardType?: CardType;
    brand: CardBrand;
    bin: string;
    last4: string;
  };
  billing: Billing | null;
}

const text: Codec<string> = { encode: (s) => s, decode: (s) => s };

/** Card numbers, CVCs, network token numbers, bank account numbers: revealed only to be sealed, wrapped again when opened. */
const secret: Codec<Secret<string>> = { encode: (s) => s.reveal(), decode: (s) => new Secret(s) };

const json = <T>(): Codec<T> => ({ encode: (v) => JSON.stringify(v), decode: (s) => JSON.parse(s) as T });

const expiry: Codec<Expiry> = {
  encode: ({ month, year }) => JSON.stringify({ month, year } satisfies Expiry),
  decode: (s) => JSON.parse(s) as Expiry,
};

const pendingCard: Codec<PendingCard> = {
  // The number keeps its place among the card's keys: the plaintext is what JSON.stringify gave before.
  encode: ({ card, billing }) => JSON.stringify({ card: { ...card, number: card.number.reveal() }, billing }),
  decode: (s) => {
    const { card, billing } = JSON.parse(s) as { card: Omit<PendingCard['card'], 'number'> & { number: string }; billing: Billing | null };
    return { card: { ...card, number: new Secret(card.number) }, billing };
  },
};

/** The codec of every encrypted field: the compiler holds this to exactly the fields of ENCRYPTED_FIELDS. */
const CODECS = {
  Customer: {
    name: text,
    email: text,
    phone: text,
    phoneCountryCode: text,
    defaultBillingAddress: json<Address>(),
    defaultShippingAddress: json<Address>(),
  },
  PaymentMethod: {
    cardNumber: secret,
    cardExpiry: expiry,
    holderName: text,
    nickName: text,
    billing: json<Billing>(),
    // A bank account's IBAN or account number: like a card number, revealed only to be sealed.
    accountNumber: secret,
  },
  CardToken: { cardNumber: secret, cardExpiry: expiry, holderName: text, nickName: text, cvc: secret, billing: json<Billing>() },
  Payment: { cardExpiry: expiry, holderName: text, pendingCard, redirectUrl: text },
  // The GraphQL response replayed for a repeated request, as it was sent.
  IdempotencyKey: { response: json<object>() },
  PspToken: { token: text },
  NetworkToken: { number: secret, expiry },
  WebhookEndpoint: { secret: text },
} as const satisfies {
  [M in EncryptedModel]: { [F in EncryptedField<M>]: { encode(value: never): string; decode(plaintext: string): unknown } };
};

/** The value an encrypted field holds once opened. */
export type FieldValue<M extends EncryptedModel, F extends EncryptedField<M>> =
  (typeof CODECS)[M] extends Record<F, Codec<infer T>> ? T : never;

function codecOf<M extends EncryptedModel, F extends EncryptedField<M>>(model: M, field: F): Codec<FieldValue<M, F>> {
  return (CODECS[model] as unknown as Record<F, Codec<FieldValue<M, F>>>)[field];
}

/**
 * The plaintext of a field's value, for a write (the encryption extension or `sealFields` seals it):
 * `undefined` stays "not given" and `null` clears.
 */
export function encodeField<M extends EncryptedModel, F extends EncryptedField<M>, V extends FieldValue<M, F> | null | undefined>(
  model: M,
  field: F,
  value: V,
): string | Extract<V, null | undefined> {
  if (value === undefined || value === null) return value as Extract<V, null | undefined>;
  return codecOf(model, field).encode(value as FieldValue<M, F>);
}

/** A field's value from its plaintext (`openField` in encryption.ts). */
export function decodeField<M extends EncryptedModel, F extends EncryptedField<M>>(
  model: M,
  field: F,
  plaintext: string,
): FieldValue<M, F> {
  return codecOf(model, field).decode(plaintext);
}
