import {
  Conflict,
  ConnectorUnavailable,
  NotFound,
  TokenAlreadyUsed,
  TokenExpired,
  TooManyAttempts,
  ValidationFailed,
} from '../domain/shared/errors.js';
import { cancelPayment, capturePayment, createPayment, findPayment, paymentRedirectUrl } from '../domain/payments/payments.js';
import { findPaymentMethod, maskedBankAccount, maskedCard } from '../domain/paymentMethods/paymentMethods.js';
import type { Payment } from '../generated/prisma/client.js';
import { CaptureMethod, PaymentInitiator, PaymentInstrument } from '../generated/prisma/enums.js';
import { builder } from './builder.js';
import { idOf } from './common.js';
import { BankAccountViewType, CardInput, CardViewType, PaymentMethodRef } from './paymentMethods.js';

const PaymentStatusEnum = builder.enumType('PaymentStatus', {
  values: {
    COMPLETED: { value: 'COMPLETED', description: 'Paid: the amount is captured.' },
    AUTHORIZED: { value: 'AUTHORIZED', description: 'Held on the card (manual capture): capture or cancel it.' },
    REQUIRES_ACTION: { value: 'REQUIRES_ACTION', description: 'The customer must authenticate at `redirectUrl`.' },
    FAILED: { value: 'FAILED', description: 'Declined or not authenticated: see `failureCode`.' },
    CANCELLED: { value: 'CANCELLED', description: 'Cancelled before capture; nothing was charged.' },
  } as const,
});
const CaptureMethodEnum = builder.enumType(CaptureMethod, {
  name: 'CaptureMethod',
  description: 'AUTOMATIC captures at once; MANUAL only authorizes, for capturePayment later.',
});
const PaymentInitiatorEnum = builder.enumType(PaymentInitiator, {
  name: 'PaymentInitiator',
  description: 'CUSTOMER: the customer is present (CIT). MERCHANT: the merchant charges a stored card on its own (MIT).',
});

const PaymentInstrumentEnum = builder.enumType(PaymentInstrument, {
  name: 'PaymentInstrument',
  description:
    "What went to the connector: the card, the connector's PSP token, a network token with a fresh cryptogram, or the bank account.",
});

const PaymentRef = builder.prismaObject('Payment', {
  description: 'A card or bank account payment (`pay_`) through a connector. A declined payment is a FAILED payment, not an error.',
  fields: (t) => ({
    id: t.exposeID('id'),
    profileId: t.exposeID('profileId', { description: 'The profile (`pro_`) it belongs to: the one of the request that created it.' }),
    amount: t.exposeInt('amount', { description: 'In minor units of `currency` (cents for USD).' }),
    amountCaptured: t.exposeInt('amountCaptured', { description: 'Captured, in minor units: 0 until the payment is COMPLETED.' }),
    currency: t.exposeString('currency', { description: 'ISO 4217 code, upper case.' }),
    status: t.field({ type: PaymentStatusEnum, resolve: (p) => p.status }),
    captureMethod: t.field({ type: CaptureMethodEnum, resolve: (p) => p.captureMethod }),
    initiator: t.field({ type: PaymentInitiatorEnum, resolve: (p) => p.initiator }),
    paymentMethod: t.field({
      type: PaymentMethodRef,
      nullable: true,
      description: 'The stored payment method paid with; null for a card or a token, or once it is deleted.',
      resolve: (p, _args, ctx) => (p.paymentMethodId ? findPaymentMethod(ctx.app, ctx.principal, p.paymentMethodId) : null),
    }),
    savedPaymentMethod: t.field({
      type: PaymentMethodRef,
      nullable: true,
      description: 'The payment method this payment saved (savePaymentMethod), once it succeeded; null once deleted.',
      resolve: (p, _args, ctx) => (p.savedPaymentMethodId ? findPaymentMethod(ctx.app, ctx.principal, p.savedPaymentMethodId) : null),
    }),
    card: t.field({
      type: CardViewType,
      nullable: true,
      description: 'The masked card paid with; null when a bank account paid.',
      resolve: (p, _args, ctx) => (p.bankScheme === null ? maskedCard(ctx.app, p, 'Payment') : null),
    }),
    bankAccount: t.field({
      type: BankAccountViewType,
      nullable: true,
      description: 'The masked bank account paid with; null when a card paid.',
      resolve: (p, _args, ctx) => maskedBankAccount(ctx.app, p, 'Payment'),
    }),
    connectorId: t.exposeString('connectorId', { description: 'The connector that processed it (`sandbox` in test mode).' }),
    instrument: t.field({ type: PaymentInstrumentEnum, resolve: (p) => p.instrument }),
    connectorReference: t.exposeString('connectorReference', { nullable: true, description: "The connector's id for this payment." }),
    redirectUrl: t.string({
      nullable: true,
      resolve: (p, _args, ctx) => paymentRedirectUrl(ctx.app, p),
      description: 'While REQUIRES_ACTION: send the customer here to authenticate; they come back to returnUrl. Null once settled.',
    }),
    failureCode: t.exposeString('failureCode', {
      nullable: true,
      description: 'FAILED: e.g. card_declined, insufficient_funds, authentication_failed.',
    }),
    failureMessage: t.exposeString('failureMessage', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CreatePaymentInput = builder.inputType('CreatePaymentInput', {
  description: 'Exactly one of `paymentMethodId`, `token` or `card`.',
  fields: (t) => ({
    amount: t.int({ required: true, description: 'In minor units of `currency`: 1 to 99999999.' }),
    currency: t.string({ required: true, description: 'ISO 4217 code, e.g. "USD".' }),
    paymentMethodId: t.id({
      description:
        "A stored payment method (`pm_`), a card or a bank account; sets its lastUsedAt (and moves a bank account's retainUntil).",
    }),
    token: t.id({ description: 'A `tok_` card token; this payment spends it.' }),
    card: t.field({ type: CardInput }),
    customerId: t.id({ description: 'The customer paying; the saved card goes to it.' }),
    captureMethod: t.field({ type: CaptureMethodEnum, defaultValue: 'AUTOMATIC' }),
    initiator: t.field({
      type: PaymentInitiatorEnum,
      defaultValue: 'CUSTOMER',
      description: 'MERCHANT needs a payment method that completed a customer-initiated payment before.',
    }),
    savePaymentMethod: t.boolean({
      defaultValue: false,
      description: 'Vault the card (with `card` or `token` only); saved only if the payment succeeds.',
    }),
    connectorId: t.string({ description: "Default: the default connector of the key's mode (`sandbox` in test mode)." }),
    returnUrl: t.string({
      description: 'Absolute http(s) URL the customer returns to after a challenge, with `payment_id` and `status` appended.',
    }),
  }),
});

const PaymentPayload = (name: string) =>
  builder.objectRef<{ payment: Payment }>(name).implement({
    fields: (t) => ({ payment: t.field({ type: PaymentRef, resolve: (p) => p.payment }) }),
  });

builder.queryField('payment', (t) =>
  t.prismaField({
    type: 'Payment',
    nullable: true,
    description: "Null when absent or another tenant's.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => findPayment(ctx.app, ctx.principal, idOf(id), query),
  }),
);

builder.mutationFields((t) => ({
  createPayment: t.field({
    type: PaymentPayload('CreatePaymentSuccess'),
    description: 'Pays with a stored payment method, a card token or a card. A declined payment succeeds here, with status FAILED.',
    errors: { types: [ValidationFailed, NotFound, TokenExpired, TokenAlreadyUsed, ConnectorUnavailable, TooManyAttempts] },
    args: { input: t.arg({ type: CreatePaymentInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      payment: await createPayment(ctx.app, ctx.principal, input, ctx.idempotency && { idempotency: ctx.idempotency }),
    }),
  }),
  capturePayment: t.field({
    type: PaymentPayload('CapturePaymentSuccess'),
    description: 'Captures an AUTHORIZED payment: all of it, or `amount` (1 to the authorized amount).',
    errors: { types: [ValidationFailed, NotFound, Conflict] },
    args: {
      id: t.arg.id({ required: true }),
      amount: t.arg.int({ description: 'In minor units; default: the whole authorized amount.' }),
    },
    resolve: async (_root, { id, amount }, ctx) => ({ payment: await capturePayment(ctx.app, ctx.principal, idOf(id), amount) }),
  }),
  cancelPayment: t.field({
    type: PaymentPayload('CancelPaymentSuccess'),
    description: 'Cancels an AUTHORIZED payment or one awaiting authentication.',
    errors: { types: [NotFound, Conflict] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => ({ payment: await cancelPayment(ctx.app, ctx.principal, idOf(id)) }),
  }),
}));
