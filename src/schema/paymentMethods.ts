import { CardBrand, CardType, PaymentMethodType } from '../generated/prisma/enums.js';
import { NotFound, RetentionLimitExceeded, TokenAlreadyUsed, TokenExpired, ValidationFailed } from '../errors.js';
import {
  billingOf,
  deletePaymentMethod,
  extendRetention,
  findPaymentMethod,
  maskedCard,
  tokenizeCard,
  updatePaymentMethod,
  type CardView,
} from '../domain/paymentMethods.js';
import { builder } from './builder.js';
import { BillingInput, BillingType } from './common.js';

const CardBrandEnum = builder.enumType(CardBrand, { name: 'CardBrand', description: 'Detected from the number.' });
export const CardTypeEnum = builder.enumType(CardType, { name: 'CardType' });
const PaymentMethodTypeEnum = builder.enumType(PaymentMethodType, { name: 'PaymentMethodType' });

export const CardViewType = builder.objectRef<CardView>('CardView').implement({
  description: 'The masked card: never the full number or the CVC.',
  fields: (t) => ({
    bin: t.exposeString('bin', { description: 'First 6 digits.' }),
    last4: t.exposeString('last4'),
    brand: t.field({ type: CardBrandEnum, resolve: (c) => c.brand }),
    expMonth: t.exposeInt('expMonth'),
    expYear: t.exposeInt('expYear', { description: 'Four digits.' }),
    expired: t.exposeBoolean('expired', { description: 'True once the expiry month has passed (UTC).' }),
    holderName: t.exposeString('holderName', { nullable: true }),
    nickName: t.exposeString('nickName', { nullable: true }),
    issuer: t.exposeString('issuer', { nullable: true }),
    issuingCountry: t.exposeString('issuingCountry', { nullable: true }),
    cardType: t.field({ type: CardTypeEnum, nullable: true, resolve: (c) => c.cardType }),
  }),
});

export const PaymentMethodRef = builder.prismaObject('PaymentMethod', {
  description: 'A vaulted card, referenced by its opaque `pm_` id.',
  fields: (t) => ({
    id: t.exposeID('id'),
    type: t.field({ type: PaymentMethodTypeEnum, resolve: (pm) => pm.type }),
    customer: t.relation('customer', { nullable: true }),
    card: t.field({ type: CardViewType, nullable: true, resolve: (pm) => maskedCard(pm) }),
    billing: t.field({ type: BillingType, nullable: true, resolve: (pm) => billingOf(pm) }),
    metadata: t.expose('metadata', { type: 'JSON', nullable: true }),
    fingerprint: t.exposeString('fingerprint', {
      description: 'Same card number and merchant give the same value; differs across merchants.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    retainUntil: t.expose('retainUntil', {
      type: 'DateTime',
      description: 'Purged after this instant: 1st of (expiry month + 14 months), plus any extension.',
    }),
  }),
});

export const CardInput = builder.inputType('CardInput', {
  fields: (t) => ({
    number: t.string({ required: true, description: '12-19 digits; spaces and dashes allowed.' }),
    expMonth: t.int({ required: true }),
    expYear: t.int({ required: true, description: 'Two digits (25 means 2025) or four.' }),
    cvc: t.string({ description: 'Checked, never stored with the payment method.' }),
    holderName: t.string(),
    nickName: t.string(),
    issuer: t.string(),
    issuingCountry: t.string({ description: 'ISO 3166-1 alpha-2 code.' }),
    cardType: t.field({ type: CardTypeEnum }),
  }),
});

const TokenizeCardInput = builder.inputType('TokenizeCardInput', {
  description: 'Exactly one of `card` or `token`.',
  fields: (t) => ({
    customerId: t.id(),
    card: t.field({ type: CardInput }),
    token: t.id({ description: 'A `tok_` card token.' }),
    billing: t.field({ type: BillingInput }),
    metadata: t.field({ type: 'JSON' }),
  }),
});

const UpdatePaymentMethodInput = builder.inputType('UpdatePaymentMethodInput', {
  description: 'Omitted fields are left as they are; null clears. expMonth and expYear go together.',
  fields: (t) => ({
    holderName: t.string(),
    nickName: t.string(),
    expMonth: t.int(),
    expYear: t.int(),
    billing: t.field({ type: BillingInput }),
    metadata: t.field({ type: 'JSON' }),
  }),
});

type PmRow = Awaited<ReturnType<typeof updatePaymentMethod>>;
const PaymentMethodPayload = (name: string) =>
  builder.objectRef<{ paymentMethod: PmRow }>(name).implement({
    fields: (t) => ({ paymentMethod: t.field({ type: PaymentMethodRef, resolve: (p) => p.paymentMethod }) }),
  });

const TokenizeCardSuccess = builder.objectRef<{ paymentMethod: PmRow; duplicate: boolean }>('TokenizeCardSuccess').implement({
  fields: (t) => ({
    paymentMethod: t.field({ type: PaymentMethodRef, resolve: (p) => p.paymentMethod }),
    duplicate: t.exposeBoolean('duplicate', {
      description: 'True when this card was already vaulted for this customer (or without one): the existing payment method, updated.',
    }),
  }),
});

const DeletePaymentMethodSuccess = builder.objectRef<{ deletedId: string }>('DeletePaymentMethodSuccess').implement({
  fields: (t) => ({ deletedId: t.exposeID('deletedId') }),
});

builder.queryField('paymentMethod', (t) =>
  t.prismaField({
    type: 'PaymentMethod',
    nullable: true,
    description: "Null when absent, deleted or another tenant's.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => findPaymentMethod(ctx.principal, String(id), query),
  }),
);

builder.mutationFields((t) => ({
  tokenizeCard: t.field({
    type: TokenizeCardSuccess,
    description: 'Vaults a card and returns its payment method; the same card again returns the same one.',
    errors: { types: [ValidationFailed, NotFound, TokenExpired, TokenAlreadyUsed] },
    args: { input: t.arg({ type: TokenizeCardInput, required: true }) },
    resolve: (_root, { input }, ctx) => tokenizeCard(ctx.principal, input),
  }),
  updatePaymentMethod: t.field({
    type: PaymentMethodPayload('UpdatePaymentMethodSuccess'),
    errors: { types: [ValidationFailed, NotFound] },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdatePaymentMethodInput, required: true }) },
    resolve: async (_root, { id, input }, ctx) => ({
      paymentMethod: await updatePaymentMethod(ctx.principal, String(id), input),
    }),
  }),
  deletePaymentMethod: t.field({
    type: DeletePaymentMethodSuccess,
    description: 'Destroys the card data; the id then reads as absent.',
    errors: { types: [NotFound] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => deletePaymentMethod(ctx.principal, String(id)),
  }),
  extendRetention: t.field({
    type: PaymentMethodPayload('ExtendRetentionSuccess'),
    description: 'Adds 1-24 months to retainUntil; the total extension may not pass 24 months.',
    errors: { types: [ValidationFailed, NotFound, RetentionLimitExceeded] },
    args: { id: t.arg.id({ required: true }), months: t.arg.int({ required: true }) },
    resolve: async (_root, { id, months }, ctx) => ({
      paymentMethod: await extendRetention(ctx.principal, String(id), months),
    }),
  }),
}));
