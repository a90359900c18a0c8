import {
  BankAccountType,
  BankScheme,
  CardBrand,
  CardType,
  NetworkTokenStatus,
  PaymentMethodType,
  TokenizationType,
  TokenStatus,
  UpdaterStatus,
} from '../generated/prisma/enums.js';
import {
  Conflict,
  ConnectorUnavailable,
  NotFound,
  RetentionLimitExceeded,
  TokenAlreadyUsed,
  TokenExpired,
  TokenizationFailed,
  TooManyAttempts,
  ValidationFailed,
} from '../domain/shared/errors.js';
import { networkTokenView } from '../domain/paymentMethods/networkTokens.js';
import { pspTokenValue } from '../domain/paymentMethods/pspTokens.js';
import { revealCard, type RevealedCard } from '../domain/paymentMethods/reveal.js';
import { simulateNetworkTokenEvent } from '../integrations/tokenServices/simulate.js';
import { SIMULATED_NETWORK_TOKEN_EVENTS } from '../domain/paymentMethods/inputs.js';
import {
  billingOf,
  deletePaymentMethod,
  extendRetention,
  findPaymentMethod,
  maskedBankAccount,
  maskedCard,
  tokenizeBankAccount,
  tokenizeCard,
  updatePaymentMethod,
  type BankAccountView,
  type CardView,
} from '../domain/paymentMethods/paymentMethods.js';
import { builder } from './builder.js';
import { BillingInput, BillingType, CARD_DATA, idOf } from './common.js';

const CardBrandEnum = builder.enumType(CardBrand, { name: 'CardBrand', description: 'Detected from the number.' });
const CardTypeEnum = builder.enumType(CardType, { name: 'CardType' });
const PaymentMethodTypeEnum = builder.enumType(PaymentMethodType, { name: 'PaymentMethodType' });
const UpdaterStatusEnum = builder.enumType(UpdaterStatus, {
  name: 'UpdaterStatus',
  description:
    "What the card network's account updater said: UPDATED, the number or expiry was replaced by the network's; CLOSED, the account is closed (ask the customer for another card).",
});

export const CardViewType = builder.objectRef<CardView>('CardView').implement({
  description: 'The masked card: never the full number or the CVC.',
  fields: (t) => ({
    bin: t.exposeString('bin', { description: 'First 6 digits.' }),
    last4: t.exposeString('last4'),
    brand: t.expose('brand', { type: CardBrandEnum }),
    expMonth: t.exposeInt('expMonth'),
    expYear: t.exposeInt('expYear', { description: 'Four digits.' }),
    expired: t.exposeBoolean('expired', { description: 'True once the expiry month has passed (UTC).' }),
    holderName: t.string({ nullable: true, resolve: (c) => c.holderName() }),
    nickName: t.string({ nullable: true, resolve: (c) => c.nickName() }),
    issuer: t.exposeString('issuer', { nullable: true }),
    issuingCountry: t.exposeString('issuingCountry', { nullable: true }),
    cardType: t.expose('cardType', { type: CardTypeEnum, nullable: true }),
  }),
});

const BankSchemeEnum = builder.enumType(BankScheme, {
  name: 'BankScheme',
  description: 'SEPA (an IBAN), ACH (a US routing and account number) or BACS (a UK sort code and account number).',
});
const BankAccountTypeEnum = builder.enumType(BankAccountType, { name: 'BankAccountType' });

export const BankAccountViewType = builder.objectRef<BankAccountView>('BankAccountView').implement({
  description: 'The masked bank account: never the IBAN or the account number.',
  fields: (t) => ({
    scheme: t.field({ type: BankSchemeEnum, resolve: (b) => b.scheme }),
    country: t.exposeString('country', { description: "ISO 3166-1 alpha-2: the IBAN's country, US for ACH, GB for BACS." }),
    last4: t.exposeString('last4', { description: 'The last four characters of the IBAN or account number.' }),
    bankCode: t.exposeString('bankCode', {
      nullable: true,
      description: "The routing number (ACH), the sort code (BACS) or the IBAN's bank identifier (SEPA).",
    }),
    bic: t.exposeString('bic', { nullable: true }),
    holderName: t.string({ nullable: true, resolve: (b) => b.holderName() }),
    accountType: t.field({ type: BankAccountTypeEnum, nullable: true, resolve: (b) => b.accountType }),
  }),
});

const TokenizationTypeEnum = builder.enumType(TokenizationType, {
  name: 'TokenizationType',
  description: 'SINGLE_USE tokens are spent by one payment; MULTI_USE ones pay again and again.',
});
const TokenStatusEnum = builder.enumType(TokenStatus, { name: 'TokenStatus', description: 'INACTIVE: spent or replaced.' });
const NetworkTokenStatusEnum = builder.enumType(NetworkTokenStatus, {
  name: 'NetworkTokenStatus',
  description: 'Kept current by the token service provider: only an ACTIVE, unexpired token is used for payments.',
});

builder.prismaObject('PspToken', {
  description: "A payment service provider's token for the card: payments through that connector send it instead of the card.",
  fields: (t) => ({
    connectorId: t.exposeString('connectorId'),
    token: t.string({ resolve: async (row, _args, ctx) => (await pspTokenValue(ctx.app, row)) ?? '' }),
    tokenizationType: t.field({ type: TokenizationTypeEnum, resolve: (row) => row.tokenizationType }),
    status: t.field({ type: TokenStatusEnum, resolve: (row) => row.status }),
    connectorTokenRequestReferenceId: t.exposeString('connectorTokenRequestReferenceId', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('usedAt', { type: 'DateTime', nullable: true, description: 'When a payment last used it.' }),
  }),
});

builder.prismaObject('NetworkToken', {
  description: 'The network token of the card, issued by a token service provider; never its number.',
  fields: (t) => ({
    status: t.field({ type: NetworkTokenStatusEnum, resolve: (row) => row.status }),
    last4: t.exposeString('last4', { description: "The token's own last four digits (not the card's)." }),
    expMonth: t.int({ resolve: async (row, _args, ctx) => (await networkTokenView(ctx.app, row)).expMonth }),
    expYear: t.int({ resolve: async (row, _args, ctx) => (await networkTokenView(ctx.app, row)).expYear }),
    tokenReferenceId: t.exposeID('tokenReferenceId', { description: "The token service provider's reference." }),
  }),
});

export const PaymentMethodRef = builder.prismaObject('PaymentMethod', {
  description: 'A vaulted card or bank account, referenced by its opaque `pm_` id.',
  fields: (t) => ({
    id: t.exposeID('id'),
    profileId: t.exposeID('profileId', {
      description: 'The profile (`pro_`) it belongs to: the one of its customer, and of the request that created it.',
    }),
    type: t.field({ type: PaymentMethodTypeEnum, resolve: (pm) => pm.type }),
    customer: t.relation('customer', { nullable: true }),
    card: t.field({
      type: CardViewType,
      nullable: true,
      description: 'Null for a bank account.',
      resolve: (pm, _args, ctx) => (pm.type === 'CARD' ? maskedCard(ctx.app, pm) : null),
    }),
    bankAccount: t.field({
      type: BankAccountViewType,
      nullable: true,
      description: 'Null for a card.',
      resolve: (pm, _args, ctx) => maskedBankAccount(ctx.app, pm),
    }),
    billing: t.field({ type: BillingType, nullable: true, resolve: (pm, _args, ctx) => billingOf(ctx.app, pm) }),
    metadata: t.expose('metadata', { type: 'JSON', nullable: true }),
    fingerprint: t.exposeString('fingerprint', {
      description: 'Same card number (or bank account) and merchant give the same value; differs across merchants.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    updaterStatus: t.field({
      type: UpdaterStatusEnum,
      nullable: true,
      description: 'Null: the account updater has reported nothing for this card.',
      resolve: (pm) => pm.updaterStatus,
    }),
    retainUntil: t.expose('retainUntil', {
      type: 'DateTime',
      description:
        'Purged after this instant: 1st of (expiry month + 14 months) for a card, 1st of (month of the last payment, or of creation, + 14 months) for a bank account; plus any extension.',
    }),
    pspTokens: t.relation('pspTokens', {
      description: 'Tokens payment service providers issued for this card, newest first (at most 100).',
      query: { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: 100 },
    }),
    networkToken: t.relation('networkToken', { nullable: true }),
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

const PspTokenizationInput = builder.inputType('PspTokenizationInput', {
  description: 'Ask this connector for a token of the card, kept (encrypted) on the payment method.',
  fields: (t) => ({
    tokenizationType: t.field({ type: TokenizationTypeEnum, required: true }),
    connectorId: t.string({ required: true, description: '`sandbox` in test mode.' }),
  }),
});

const NetworkTokenizationInput = builder.inputType('NetworkTokenizationInput', {
  description: 'Ask the token service provider for a network token (the built-in sandbox one in test mode).',
  fields: (t) => ({ enable: t.boolean({ required: true }) }),
});

const TokenizeCardInput = builder.inputType('TokenizeCardInput', {
  description: 'Exactly one of `card` or `token`.',
  fields: (t) => ({
    customerId: t.id(),
    card: t.field({ type: CardInput }),
    token: t.id({ description: 'A `tok_` card token.' }),
    billing: t.field({ type: BillingInput }),
    metadata: t.field({ type: 'JSON' }),
    pspTokenization: t.field({ type: PspTokenizationInput }),
    networkTokenization: t.field({ type: NetworkTokenizationInput }),
  }),
});

const BankAccountInput = builder.inputType('BankAccountInput', {
  description:
    'A bank account: the fields of its scheme only (SEPA: iban, bic; ACH: routingNumber, accountNumber; BACS: sortCode, accountNumber).',
  fields: (t) => ({
    scheme: t.field({ type: BankSchemeEnum, required: true }),
    holderName: t.string({ required: true }),
    accountType: t.field({ type: BankAccountTypeEnum }),
    iban: t.string({ description: 'SEPA: spaces allowed; checked (mod-97 and its country length), encrypted, never returned.' }),
    bic: t.string({ description: 'SEPA, optional: 8 or 11 characters.' }),
    routingNumber: t.string({ description: 'ACH: 9 digits with a valid ABA checksum.' }),
    accountNumber: t.string({ description: 'ACH: 4-17 digits; BACS: 8 digits. Encrypted, never returned.' }),
    sortCode: t.string({ description: 'BACS: 6 digits, dashes allowed.' }),
  }),
});

const TokenizeBankAccountInput = builder.inputType('TokenizeBankAccountInput', {
  fields: (t) => ({
    customerId: t.id(),
    bankAccount: t.field({ type: BankAccountInput, required: true }),
    billing: t.field({ type: BillingInput }),
    metadata: t.field({ type: 'JSON' }),
  }),
});

const ConnectorTokenDetailsInput = builder.inputType('ConnectorTokenDetailsInput', {
  description:
    'A token the merchant obtained from a connector itself (e.g. through forwardRequest); it becomes the active one for that connector.',
  fields: (t) => ({
    connectorId: t.string({ required: true }),
    token: t.string({ required: true }),
    tokenizationType: t.field({ type: TokenizationTypeEnum, description: 'Default MULTI_USE.' }),
    connectorTokenRequestReferenceId: t.string(),
  }),
});

const UpdatePaymentMethodInput = builder.inputType('UpdatePaymentMethodInput', {
  description: 'Omitted fields are left as they are; null clears. expMonth and expYear go together (cards only, as connectorTokenDetails).',
  fields: (t) => ({
    holderName: t.string(),
    nickName: t.string(),
    expMonth: t.int(),
    expYear: t.int(),
    billing: t.field({ type: BillingInput }),
    metadata: t.field({ type: 'JSON' }),
    connectorTokenDetails: t.field({ type: ConnectorTokenDetailsInput }),
  }),
});

const RevealedCardType = builder.objectRef<RevealedCard>('RevealedCard').implement({
  description: 'The full card. Never cache or log it.',
  extensions: CARD_DATA,
  fields: (t) => ({
    // The one place a stored card number leaves the vault in an answer (revealCard).
    number: t.string({ resolve: (card) => card.number.reveal() }),
    expMonth: t.exposeInt('expMonth'),
    expYear: t.exposeInt('expYear'),
    holderName: t.exposeString('holderName', { nullable: true }),
  }),
});

const NetworkTokenEventEnum = builder.enumType('NetworkTokenEvent', { values: SIMULATED_NETWORK_TOKEN_EVENTS });

const SimulateNetworkTokenEventInput = builder.inputType('SimulateNetworkTokenEventInput', {
  fields: (t) => ({
    paymentMethodId: t.id({ required: true }),
    event: t.field({ type: NetworkTokenEventEnum, required: true }),
    expMonth: t.int({ description: 'UPDATE_EXPIRY: the new month.' }),
    expYear: t.int({ description: 'UPDATE_EXPIRY: the new year, four digits.' }),
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

const TokenizeBankAccountSuccess = builder.objectRef<{ paymentMethod: PmRow; duplicate: boolean }>('TokenizeBankAccountSuccess').implement({
  fields: (t) => ({
    paymentMethod: t.field({ type: PaymentMethodRef, resolve: (p) => p.paymentMethod }),
    duplicate: t.exposeBoolean('duplicate', {
      description: 'True when this account was already vaulted for this customer (or without one): the existing payment method.',
    }),
  }),
});

const DeletePaymentMethodSuccess = builder.objectRef<{ deletedId: string }>('DeletePaymentMethodSuccess').implement({
  fields: (t) => ({ deletedId: t.exposeID('deletedId') }),
});

// A plain field, not a prismaField: the row comes from the store's one prepared statement whatever is selected,
// so planning a Prisma query from the selection (a prismaField does, on every request) would be thrown away.
// Relations asked for (customer, tokens) load through Pothos' relation loader.
builder.queryField('paymentMethod', (t) =>
  t.field({
    type: PaymentMethodRef,
    nullable: true,
    description: "Null when absent, deleted or another tenant's.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => findPaymentMethod(ctx.app, ctx.principal, idOf(id)),
  }),
);

builder.mutationFields((t) => ({
  tokenizeCard: t.field({
    type: TokenizeCardSuccess,
    description: 'Vaults a card and returns its payment method; the same card again returns the same one.',
    errors: {
      types: [ValidationFailed, NotFound, TokenExpired, TokenAlreadyUsed, ConnectorUnavailable, TokenizationFailed, TooManyAttempts],
    },
    args: { input: t.arg({ type: TokenizeCardInput, required: true }) },
    resolve: (_root, { input }, ctx) => tokenizeCard(ctx.app, ctx.principal, input),
  }),
  tokenizeBankAccount: t.field({
    type: TokenizeBankAccountSuccess,
    description: 'Vaults a bank account (SEPA, ACH or BACS) and returns its payment method; the same account again returns the same one.',
    errors: { types: [ValidationFailed, NotFound, TooManyAttempts] },
    args: { input: t.arg({ type: TokenizeBankAccountInput, required: true }) },
    resolve: (_root, { input }, ctx) => tokenizeBankAccount(ctx.app, ctx.principal, input),
  }),
  updatePaymentMethod: t.field({
    type: PaymentMethodPayload('UpdatePaymentMethodSuccess'),
    errors: { types: [ValidationFailed, NotFound] },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdatePaymentMethodInput, required: true }) },
    resolve: async (_root, { id, input }, ctx) => ({
      paymentMethod: await updatePaymentMethod(ctx.app, ctx.principal, idOf(id), input),
    }),
  }),
  revealCard: t.field({
    type: builder.objectRef<{ card: RevealedCard }>('RevealCardSuccess').implement({
      fields: (f) => ({ card: f.field({ type: RevealedCardType, resolve: (p) => p.card }) }),
    }),
    description:
      'The full card, for secret keys created with --allow-reveal (FORBIDDEN otherwise). Every reveal is audited. A bank account is never revealed (ValidationError).',
    errors: { types: [ValidationFailed, NotFound] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => ({ card: await revealCard(ctx.app, ctx.principal, idOf(id)) }),
  }),
  simulateNetworkTokenEvent: t.field({
    type: PaymentMethodPayload('SimulateNetworkTokenEventSuccess'),
    description:
      "Test mode: the sandbox token service provider pushes this lifecycle event for the payment method's network token to the vault's webhook, as a real one would.",
    errors: { types: [ValidationFailed, NotFound, Conflict, ConnectorUnavailable] },
    args: { input: t.arg({ type: SimulateNetworkTokenEventInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      paymentMethod: await simulateNetworkTokenEvent(ctx.app, ctx.principal, input),
    }),
  }),
  deletePaymentMethod: t.field({
    type: DeletePaymentMethodSuccess,
    description: 'Destroys the card or bank account data; the id then reads as absent.',
    errors: { types: [NotFound] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => deletePaymentMethod(ctx.app, ctx.principal, idOf(id)),
  }),
  extendRetention: t.field({
    type: PaymentMethodPayload('ExtendRetentionSuccess'),
    description: 'Adds 1-24 months to retainUntil; the total extension may not pass 24 months.',
    errors: { types: [ValidationFailed, NotFound, RetentionLimitExceeded] },
    args: { id: t.arg.id({ required: true }), months: t.arg.int({ required: true }) },
    resolve: async (_root, { id, months }, ctx) => ({
      paymentMethod: await extendRetention(ctx.app, ctx.principal, idOf(id), months),
    }),
  }),
}));
