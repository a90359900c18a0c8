import { z } from 'zod';
import { scrubText } from '../../../card/scrub.js';
import type { Address, Billing } from '../../../db/encrypted-fields.js';
import type { CardBrand } from '../../../generated/prisma/enums.js';
import type { FieldNamer } from './errors.js';

// What the REST dialects share: the shapes of addresses and billing in snake case, their mapping onto the
// domain's inputs and back, and field names for errors. Shapes only (types and known fields): the values are
// the domain's to check (src/domain/shared/inputSchemas.ts), as for GraphQL.

const str = z.string().nullish();

export const addressSchema = z.strictObject({
  line1: str,
  line2: str,
  line3: str,
  city: str,
  state: str,
  zip: str,
  country: str.meta({ description: 'ISO 3166-1 alpha-2 code.' }),
  first_name: str,
  last_name: str,
});

const phoneSchema = z.strictObject({ number: str, country_code: str.meta({ description: 'E.g. "+65".' }) });

export const billingSchema = z.strictObject({
  address: addressSchema.nullish(),
  phone: phoneSchema.nullish(),
  email: str,
});

export const metadataSchema = z
  .record(z.string(), z.unknown())
  .meta({ description: 'Flat object: at most 50 keys, keys up to 40 characters, values (string, number, boolean, null) up to 500.' });

/** A month or year as Hyperswitch sends it (a string of digits) or as a number. */
export const digitsOrNumber = z.union([z.string(), z.int()]);

/** "10" → 10; anything that is not digits goes on as given, for the domain to refuse. */
export function toInt(value: string | number | null | undefined): unknown {
  if (typeof value === 'string' && /^\s*\d{1,4}\s*$/.test(value)) return Number(value);
  return value;
}

export function addressInput(a: z.output<typeof addressSchema> | null | undefined) {
  if (a == null) return a;
  const { first_name, last_name, ...rest } = a;
  return { ...rest, firstName: first_name, lastName: last_name };
}

export function billingInput(b: z.output<typeof billingSchema> | null | undefined) {
  if (b == null) return b;
  return {
    address: addressInput(b.address),
    phone: b.phone == null ? b.phone : { number: b.phone.number, countryCode: b.phone.country_code },
    email: b.email,
  };
}

// Answers

export const addressOut = z.strictObject({
  line1: z.string().nullable(),
  line2: z.string().nullable(),
  line3: z.string().nullable(),
  city: z.string().nullable(),
  state: z.string().nullable(),
  zip: z.string().nullable(),
  country: z.string().nullable(),
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
});

export const billingOut = z.strictObject({
  address: addressOut.nullable(),
  phone: z.strictObject({ number: z.string().nullable(), country_code: z.string().nullable() }).nullable(),
  email: z.string().nullable(),
});

export function addressView(a: Address | null | undefined): z.output<typeof addressOut> | null {
  if (!a) return null;
  return {
    line1: a.line1 ?? null,
    line2: a.line2 ?? null,
    line3: a.line3 ?? null,
    city: a.city ?? null,
    state: a.state ?? null,
    zip: a.zip ?? null,
    country: a.country ?? null,
    first_name: a.firstName ?? null,
    last_name: a.lastName ?? null,
  };
}

export function billingView(b: Billing | null | undefined): z.output<typeof billingOut> | null {
  if (!b) return null;
  return {
    address: addressView(b.address),
    phone: b.phone ? { number: b.phone.number ?? null, country_code: b.phone.countryCode ?? null } : null,
    email: b.email ?? null,
  };
}

/** Brands as card APIs write them in lower snake case (`visa`, `amex`, `diners_club`). */
export function brandName(brand: CardBrand): string {
  return brand.toLowerCase();
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Names a domain input path (`input.card.expMonth`) as a REST body names it: the longest matching prefix
 * of `renames` is replaced, the rest is snake-cased (metadata keys, the caller's own, are kept as sent).
 * Card numbers pasted into a metadata key are masked.
 */
export function fieldNamer(renames: Record<string, string>): FieldNamer {
  const prefixes = Object.keys(renames).sort((a, b) => b.length - a.length);
  return (path) => {
    const dotted = (path[0] === 'input' ? path.slice(1) : path).join('.');
    const prefix = prefixes.find((p) => dotted === p || dotted.startsWith(`${p}.`));
    const head = prefix === undefined ? '' : renames[prefix]!;
    const rest = prefix === undefined ? dotted : dotted.slice(prefix.length + 1);
    const parts = rest === '' ? [] : rest.split('.');
    const metadataAt = [...(head ? head.split('.') : []), ...parts].indexOf('metadata');
    const named = parts.map((p, i) => (metadataAt >= 0 && (head ? head.split('.').length : 0) + i > metadataAt ? p : snake(p)));
    return scrubText([head, ...named].filter(Boolean).join('.')) || '(body)';
  };
}
