import type { Address, Billing } from '../db/encrypted-fields.js';
import { builder } from './builder.js';

/**
 * `extensions` of an object type whose values are full card data (a card number, a CVC). A mutation whose
 * result type can reach such a type is never stored for idempotent replay (src/http/plugins/idempotency.ts): mark every
 * new type of the kind, and the rule follows it wherever it is returned.
 */
export const CARD_DATA = { holdsCardData: true } as const;

export const AddressType = builder.objectRef<Address>('Address').implement({
  description: 'A postal address.',
  fields: (t) => ({
    line1: t.exposeString('line1', { nullable: true }),
    line2: t.exposeString('line2', { nullable: true }),
    line3: t.exposeString('line3', { nullable: true }),
    city: t.exposeString('city', { nullable: true }),
    state: t.exposeString('state', { nullable: true }),
    zip: t.exposeString('zip', { nullable: true }),
    country: t.exposeString('country', { nullable: true, description: 'ISO 3166-1 alpha-2 code.' }),
    firstName: t.exposeString('firstName', { nullable: true }),
    lastName: t.exposeString('lastName', { nullable: true }),
  }),
});

type PhoneShape = NonNullable<Billing['phone']>;
const PhoneType = builder.objectRef<PhoneShape>('Phone').implement({
  fields: (t) => ({
    number: t.exposeString('number', { nullable: true }),
    countryCode: t.exposeString('countryCode', { nullable: true, description: 'E.g. "+65".' }),
  }),
});

export const BillingType = builder.objectRef<Billing>('Billing').implement({
  description: 'Billing details of a payment method.',
  fields: (t) => ({
    address: t.field({ type: AddressType, nullable: true, resolve: (b) => b.address ?? null }),
    phone: t.field({ type: PhoneType, nullable: true, resolve: (b) => b.phone ?? null }),
    email: t.exposeString('email', { nullable: true }),
  }),
});

export const AddressInput = builder.inputType('AddressInput', {
  fields: (t) => ({
    line1: t.string(),
    line2: t.string(),
    line3: t.string(),
    city: t.string(),
    state: t.string(),
    zip: t.string(),
    country: t.string({ description: 'ISO 3166-1 alpha-2 code.' }),
    firstName: t.string(),
    lastName: t.string(),
  }),
});

const PhoneInput = builder.inputType('PhoneInput', {
  fields: (t) => ({ number: t.string(), countryCode: t.string({ description: 'E.g. "+65".' }) }),
});

export const BillingInput = builder.inputType('BillingInput', {
  fields: (t) => ({
    address: t.field({ type: AddressInput }),
    phone: t.field({ type: PhoneInput }),
    email: t.string(),
  }),
});

/**
 * An ID argument as the domain takes it. IDs are opaque strings; a NUL cannot be sent to PostgreSQL in a
 * text parameter at all, so it becomes U+FFFD, and the id then matches nothing, like any unknown id.
 */
export function idOf(id: string | number): string {
  return String(id).replace(/\0/g, '\uFFFD');
}
