import { z } from 'zod';
import type { App } from '../../../app/app.js';
import { createCustomer, customerAddress, customerField, findCustomer } from '../../../domain/customers/customers.js';
import { findNetworkToken, networkTokenView } from '../../../domain/paymentMethods/networkTokens.js';
import {
  billingOf,
  deletePaymentMethod,
  findPaymentMethod,
  listCustomerPaymentMethods,
  maskedCard,
  tokenizeCard,
  updatePaymentMethod,
} from '../../../domain/paymentMethods/paymentMethods.js';
import { listPspTokens, pspTokenValue } from '../../../domain/paymentMethods/pspTokens.js';
import { NotFound } from '../../../domain/shared/errors.js';
import type { Principal } from '../../../domain/shared/principal.js';
import type { Customer, PaymentMethod } from '../../../generated/prisma/client.js';
import type { CardBrand } from '../../../generated/prisma/enums.js';
import { connectorFor } from '../../../integrations/connectors/index.js';
import { RestError } from './errors.js';
import { restRoute, type RestRoute } from './router.js';
import {
  addressInput,
  addressOut,
  addressSchema,
  addressView,
  billingInput,
  billingOut,
  billingSchema,
  billingView,
  digitsOrNumber,
  fieldNamer,
  metadataSchema,
  toInt,
} from './shapes.js';

// Hyperswitch Vault v2 (seeds 000 and 001): customers and payment methods in the field names of Hyperswitch's
// v2 API (crates/api_models: customers.rs, payment_methods.rs), each route one call of the domain function
// the GraphQL field calls. Ids are the vault's own (`cus_…`, `pm_…`).

const TAG = 'Hyperswitch Vault v2';
const str = z.string().nullish();

// ---------------------------------------------------------------------------------------------------------
// Customers

const customerRequest = z.strictObject({
  merchant_reference_id: str.meta({ description: "The merchant's own id for this customer." }),
  name: str,
  email: str,
  phone: str,
  phone_country_code: str.meta({ description: 'E.g. "+65".' }),
  description: str,
  default_billing_address: addressSchema.nullish(),
  default_shipping_address: addressSchema.nullish(),
  metadata: metadataSchema.nullish(),
});

const customerResponse = z.strictObject({
  id: z.string().meta({ description: 'The customer (`cus_…`).' }),
  merchant_reference_id: z.string().nullable(),
  connector_customer_ids: z.null(),
  name: z.string().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  phone_country_code: z.string().nullable(),
  description: z.string().nullable(),
  default_billing_address: addressOut.nullable(),
  default_shipping_address: addressOut.nullable(),
  created_at: z.string().meta({ description: 'ISO 8601.' }),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  default_payment_method_id: z.null(),
});

async function customerView(app: App, c: Customer): Promise<z.output<typeof customerResponse>> {
  const [name, email, phone, phoneCountryCode, billing, shipping] = await Promise.all([
    customerField(app, c, 'name'),
    customerField(app, c, 'email'),
    customerField(app, c, 'phone'),
    customerField(app, c, 'phoneCountryCode'),
    customerAddress(app, c, 'defaultBillingAddress'),
    customerAddress(app, c, 'defaultShippingAddress'),
  ]);
  return {
    id: c.id,
    merchant_reference_id: c.merchantReferenceId,
    connector_customer_ids: null,
    name,
    email,
    phone,
    phone_country_code: phoneCountryCode,
    description: c.description,
    default_billing_address: addressView(billing),
    default_shipping_address: addressView(shipping),
    created_at: c.createdAt.toISOString(),
    metadata: (c.metadata as Record<string, unknown> | null) ?? null,
    default_payment_method_id: null,
  };
}

const customerFields = fieldNamer({});

// ---------------------------------------------------------------------------------------------------------
// Payment methods

const cardDetail = z.strictObject({
  card_number: z.string().meta({ description: '12-19 digits; spaces and dashes allowed.' }),
  card_exp_month: digitsOrNumber.meta({ description: '1-12, e.g. "10".' }),
  card_exp_year: digitsOrNumber.meta({ description: 'Two digits ("25" is 2025) or four.' }),
  card_holder_name: str,
  nick_name: str,
  card_issuing_country: str.meta({ description: 'ISO 3166-1 alpha-2 code.' }),
  card_network: str.meta({ description: 'Accepted for compatibility; the network is detected from the number.' }),
  card_issuer: str,
  card_type: str.meta({ description: '"credit", "debit" or "prepaid".' }),
  card_cvc: str.meta({ description: 'Checked against the card network, never stored.' }),
});

const paymentMethodRequest = z.strictObject({
  payment_method_type: z.string().meta({ description: '"card" (bank accounts: not yet).' }),
  payment_method_subtype: str.meta({ description: 'E.g. "credit"; informational for cards.' }),
  metadata: metadataSchema.nullish(),
  customer_id: str.meta({ description: 'A customer of this merchant (`cus_…`).' }),
  // Open to other kinds' data (`bank_debit`, …), so a request for one is answered "unsupported" by its
  // payment_method_type rather than as an unknown field.
  payment_method_data: z.object({ card: cardDetail.optional() }).catchall(z.unknown()),
  billing: billingSchema.nullish(),
  psp_tokenization: z
    .strictObject({
      tokenization_type: z.enum(['single_use', 'multi_use']),
      connector_id: z.string().meta({ description: 'The connector to ask (`sandbox` in test mode).' }),
    })
    .nullish(),
  network_tokenization: z
    .strictObject({
      enable: z
        .union([z.enum(['Enable', 'Skip']), z.boolean()])
        .meta({ description: '"Enable" (or true) asks the token service provider.' }),
    })
    .nullish(),
});

const paymentMethodUpdateRequest = z.strictObject({
  payment_method_data: z
    .strictObject({
      card: z.strictObject({ card_holder_name: str, nick_name: str }).optional(),
    })
    .nullish(),
  connector_token_details: z
    .strictObject({
      connector_id: str.meta({ description: "Default: the default connector of the key's mode." }),
      token: z.string(),
      token_type: z.enum(['single_use', 'multi_use']).nullish().meta({ description: 'Default multi_use.' }),
      connector_token_request_reference_id: str,
    })
    .nullish(),
});

const cardResponse = z.strictObject({
  issuer_country: z.string().nullable(),
  last4_digits: z.string(),
  card_isin: z.string().meta({ description: 'The first six digits (the bin).' }),
  card_exp_month: z.string(),
  card_exp_year: z.string().meta({ description: 'Four digits.' }),
  expiry_month: z.string().meta({ description: 'Same as card_exp_month (the name CardDetailFromLocker uses).' }),
  expiry_year: z.string().meta({ description: 'Same as card_exp_year.' }),
  card_holder_name: z.string().nullable(),
  nick_name: z.string().nullable(),
  card_network: z.string().nullable(),
  card_issuer: z.string().nullable(),
  card_type: z.string().nullable(),
  card_fingerprint: z.string(),
  saved_to_locker: z.boolean(),
});

const networkTokenResponse = z.strictObject({
  status: z.enum(['active', 'suspended', 'deleted']),
  payment_method_data: z.strictObject({
    last4_digits: z.string().meta({ description: "The token's own last four digits." }),
    network_token_expiry_month: z.string(),
    network_token_expiry_year: z.string(),
    card_network: z.string().nullable(),
    saved_to_locker: z.boolean(),
  }),
});

const connectorTokenResponse = z.strictObject({
  connector_id: z.string(),
  token_type: z.enum(['single_use', 'multi_use']),
  status: z.enum(['active', 'inactive']),
  connector_token_request_reference_id: z.string().nullable(),
  token: z.string(),
});

const paymentMethodResponse = z.strictObject({
  id: z.string().meta({ description: 'The payment method (`pm_…`).' }),
  merchant_id: z.string(),
  customer_id: z.string().nullable(),
  payment_method_type: z.literal('card'),
  payment_method_subtype: z.string().nullable(),
  recurring_enabled: z.boolean(),
  created: z.string(),
  last_used_at: z.string().nullable(),
  payment_method_data: z.strictObject({ card: cardResponse }),
  billing: billingOut.nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  connector_tokens: z.array(connectorTokenResponse),
  network_token: networkTokenResponse.nullable(),
  storage_type: z.literal('persistent'),
});

const savedPaymentMethod = paymentMethodResponse
  .omit({ merchant_id: true, connector_tokens: true, network_token: true, storage_type: true, metadata: true })
  .extend({
    requires_cvv: z.boolean(),
    is_default: z.boolean(),
    network_tokenization: networkTokenResponse.nullable(),
    psp_tokenization_enabled: z.boolean().meta({ description: 'An active multi-use PSP token exists.' }),
  });

const savedPaymentMethodsResponse = z.strictObject({ customer_payment_methods: z.array(savedPaymentMethod) });

const deleteResponse = z.strictObject({ id: z.string() });

/** Hyperswitch's CardNetwork names. */
const NETWORK: Partial<Record<CardBrand, string>> = {
  VISA: 'Visa',
  MASTERCARD: 'Mastercard',
  AMEX: 'AmericanExpress',
  DISCOVER: 'Discover',
  DINERS_CLUB: 'DinersClub',
  JCB: 'JCB',
  UNIONPAY: 'UnionPay',
  MAESTRO: 'Maestro',
  MIR: 'Mir',
  ELO: 'Elo',
  HIPERCARD: 'Hipercard',
};

const two = (n: number) => String(n).padStart(2, '0');
const lower = <T extends string>(s: T) => s.toLowerCase() as Lowercase<T>;

async function cardView(app: App, pm: PaymentMethod): Promise<z.output<typeof cardResponse>> {
  const card = await maskedCard(app, pm);
  const [holderName, nickName] = await Promise.all([card.holderName(), card.nickName()]);
  return {
    issuer_country: card.issuingCountry,
    last4_digits: card.last4,
    card_isin: card.bin,
    card_exp_month: two(card.expMonth),
    card_exp_year: String(card.expYear),
    expiry_month: two(card.expMonth),
    expiry_year: String(card.expYear),
    card_holder_name: holderName,
    nick_name: nickName,
    card_network: NETWORK[card.brand] ?? null,
    card_issuer: card.issuer,
    card_type: card.cardType ? lower(card.cardType) : null,
    card_fingerprint: pm.fingerprint,
    saved_to_locker: true,
  };
}

async function networkTokenOf(
  app: App,
  principal: Principal,
  pm: PaymentMethod,
  network: string | null,
): Promise<z.output<typeof networkTokenResponse> | null> {
  const row = await findNetworkToken(app, principal, pm.id);
  if (!row) return null;
  const view = await networkTokenView(app, row);
  return {
    status: lower(view.status),
    payment_method_data: {
      last4_digits: view.last4,
      network_token_expiry_month: two(view.expMonth),
      network_token_expiry_year: String(view.expYear),
      card_network: network,
      saved_to_locker: true,
    },
  };
}

async function connectorTokensOf(app: App, principal: Principal, pm: PaymentMethod): Promise<z.output<typeof connectorTokenResponse>[]> {
  const rows = await listPspTokens(app, principal, pm.id);
  return Promise.all(
    rows.map(async (t) => ({
      connector_id: t.connectorId,
      token_type: lower(t.tokenizationType),
      status: lower(t.status),
      connector_token_request_reference_id: t.connectorTokenRequestReferenceId,
      token: (await pspTokenValue(app, t)) ?? '',
    })),
  );
}

async function paymentMethodView(app: App, principal: Principal, pm: PaymentMethod): Promise<z.output<typeof paymentMethodResponse>> {
  const [card, billing, connectorTokens] = await Promise.all([
    cardView(app, pm),
    billingOf(app, pm),
    connectorTokensOf(app, principal, pm),
  ]);
  const networkToken = await networkTokenOf(app, principal, pm, card.card_network);
  return {
    id: pm.id,
    merchant_id: pm.merchantId,
    customer_id: pm.customerId,
    payment_method_type: 'card',
    payment_method_subtype: card.card_type,
    recurring_enabled: true,
    created: pm.createdAt.toISOString(),
    last_used_at: pm.lastUsedAt?.toISOString() ?? null,
    payment_method_data: { card },
    billing: billingView(billing),
    metadata: (pm.metadata as Record<string, unknown> | null) ?? null,
    connector_tokens: connectorTokens,
    network_token: networkToken,
    storage_type: 'persistent',
  };
}

async function savedPaymentMethodView(app: App, principal: Principal, pm: PaymentMethod): Promise<z.output<typeof savedPaymentMethod>> {
  const { id, customer_id, payment_method_type, payment_method_subtype, recurring_enabled, created, last_used_at, ...full } =
    await paymentMethodView(app, principal, pm);
  return {
    id,
    customer_id,
    payment_method_type,
    payment_method_subtype,
    recurring_enabled,
    created,
    last_used_at,
    payment_method_data: full.payment_method_data,
    billing: full.billing,
    // A stored card pays without its CVC (the vault never keeps one).
    requires_cvv: false,
    is_default: false,
    network_tokenization: full.network_token,
    psp_tokenization_enabled: full.connector_tokens.some((t) => t.status === 'active' && t.token_type === 'multi_use'),
  };
}

/**
 * Whether the v2 routes can show this payment method: cards only, until bank accounts get their view (the
 * bank accounts work adds rows of another type; they are left out of the saved list and refused here
 * rather than shown as something they are not).
 */
const isCard = (pm: { type: string }) => pm.type === 'CARD';

const notACard = () =>
  new RestError(
    400,
    'invalid_request_error',
    'unsupported_payment_method_type',
    'This payment method is not a card: only cards are served here',
  );

/** A card payment method of the key's tenant: 404 when absent, 400 when not a card. */
async function requireCard(app: App, principal: Principal, id: string): Promise<PaymentMethod> {
  const pm = await findPaymentMethod(app, principal, id);
  if (!pm) throw new NotFound('payment method', id);
  if (!isCard(pm)) throw notACard();
  return pm;
}

type CardDetail = z.output<typeof cardDetail>;

/** Hyperswitch's card, as the domain's CardInput (the domain checks every value). */
function cardInput(c: CardDetail) {
  return {
    number: c.card_number,
    expMonth: toInt(c.card_exp_month),
    expYear: toInt(c.card_exp_year),
    cvc: c.card_cvc,
    holderName: c.card_holder_name,
    nickName: c.nick_name,
    issuer: c.card_issuer,
    issuingCountry: c.card_issuing_country,
    cardType: typeof c.card_type === 'string' ? c.card_type.toUpperCase() : c.card_type,
  };
}

type PaymentMethodRequest = z.output<typeof paymentMethodRequest>;

/**
 * How each `payment_method_type` becomes the domain's input. Cards are vaulted by tokenizeCard; bank accounts
 * (`bank_debit` with subtype `ach`, `sepa`, `bacs`, …) slot in here with their own domain function.
 */
const PAYMENT_METHOD_TYPES: Record<string, (app: App, principal: Principal, body: PaymentMethodRequest) => Promise<PaymentMethod>> = {
  card: async (app, principal, body) => {
    const card = body.payment_method_data.card;
    if (!card) {
      throw new RestError(
        400,
        'invalid_request_error',
        'invalid_input',
        'payment_method_data.card: Required for payment_method_type "card"',
        {
          fields: [{ param: 'payment_method_data.card', code: 'invalid_input', message: 'Required for payment_method_type "card"' }],
        },
      );
    }
    const enable = body.network_tokenization?.enable;
    const { paymentMethod } = await tokenizeCard(app, principal, {
      customerId: body.customer_id,
      card: cardInput(card),
      billing: billingInput(body.billing),
      metadata: body.metadata,
      pspTokenization: body.psp_tokenization && {
        tokenizationType: body.psp_tokenization.tokenization_type.toUpperCase(),
        connectorId: body.psp_tokenization.connector_id,
      },
      networkTokenization: enable === undefined || enable === null ? undefined : { enable: enable === true || enable === 'Enable' },
    });
    return paymentMethod as PaymentMethod;
  },
};

const paymentMethodFields = fieldNamer({
  card: 'payment_method_data.card',
  'card.number': 'payment_method_data.card.card_number',
  'card.expMonth': 'payment_method_data.card.card_exp_month',
  'card.expYear': 'payment_method_data.card.card_exp_year',
  'card.cvc': 'payment_method_data.card.card_cvc',
  'card.holderName': 'payment_method_data.card.card_holder_name',
  'card.nickName': 'payment_method_data.card.nick_name',
  'card.issuer': 'payment_method_data.card.card_issuer',
  'card.issuingCountry': 'payment_method_data.card.card_issuing_country',
  'card.cardType': 'payment_method_data.card.card_type',
});

const updateFields = fieldNamer({
  holderName: 'payment_method_data.card.card_holder_name',
  nickName: 'payment_method_data.card.nick_name',
  connectorTokenDetails: 'connector_token_details',
  'connectorTokenDetails.tokenizationType': 'connector_token_details.token_type',
});

export const hyperswitchRoutes: RestRoute[] = [
  restRoute({
    method: 'POST',
    path: '/v2/customers',
    operationId: 'createCustomer',
    summary: 'Create a customer',
    tag: TAG,
    body: customerRequest,
    fieldName: customerFields,
    responses: { 200: { description: 'The customer.', schema: customerResponse } },
    async handle({ app, principal, body }) {
      const customer = await createCustomer(app, principal, {
        merchantReferenceId: body.merchant_reference_id,
        name: body.name,
        email: body.email,
        phone: body.phone,
        phoneCountryCode: body.phone_country_code,
        description: body.description,
        defaultBillingAddress: addressInput(body.default_billing_address),
        defaultShippingAddress: addressInput(body.default_shipping_address),
        metadata: body.metadata,
      });
      return { status: 200, body: await customerView(app, customer) };
    },
  }),
  restRoute({
    method: 'GET',
    path: '/v2/customers/{id}',
    operationId: 'retrieveCustomer',
    summary: 'Retrieve a customer',
    tag: TAG,
    fieldName: customerFields,
    responses: { 200: { description: 'The customer.', schema: customerResponse } },
    async handle({ app, principal, params }) {
      const customer = await findCustomer(app, principal, params.id!);
      if (!customer) throw new NotFound('customer', params.id!);
      return { status: 200, body: await customerView(app, customer) };
    },
  }),
  restRoute({
    method: 'GET',
    path: '/v2/customers/{id}/saved-payment-methods',
    operationId: 'listSavedPaymentMethods',
    summary: "List a customer's saved payment methods (one-click checkout), newest first, at most 100",
    tag: TAG,
    fieldName: customerFields,
    responses: { 200: { description: 'The saved payment methods.', schema: savedPaymentMethodsResponse } },
    async handle({ app, principal, params }) {
      const rows = (await listCustomerPaymentMethods(app, principal, params.id!)).filter(isCard);
      return {
        status: 200,
        body: { customer_payment_methods: await Promise.all(rows.map((pm) => savedPaymentMethodView(app, principal, pm))) },
      };
    },
  }),
  restRoute({
    method: 'POST',
    path: '/v2/payment-methods',
    operationId: 'createPaymentMethod',
    summary: 'Vault a card (with PSP and network tokens on request); the same card again returns the same payment method',
    tag: TAG,
    body: paymentMethodRequest,
    fieldName: paymentMethodFields,
    responses: { 200: { description: 'The payment method.', schema: paymentMethodResponse } },
    async handle({ app, principal, body }) {
      const create = PAYMENT_METHOD_TYPES[body.payment_method_type];
      if (!create) {
        throw new RestError(
          400,
          'invalid_request_error',
          'unsupported_payment_method_type',
          'payment_method_type: only "card" is supported',
          { fields: [{ param: 'payment_method_type', code: 'unsupported_payment_method_type', message: 'Only "card" is supported' }] },
        );
      }
      const pm = await create(app, principal, body);
      return { status: 200, body: await paymentMethodView(app, principal, pm) };
    },
  }),
  restRoute({
    method: 'GET',
    path: '/v2/payment-methods/{id}',
    operationId: 'retrievePaymentMethod',
    summary: 'Retrieve a payment method (the masked card)',
    tag: TAG,
    fieldName: paymentMethodFields,
    responses: { 200: { description: 'The payment method.', schema: paymentMethodResponse } },
    async handle({ app, principal, params }) {
      return { status: 200, body: await paymentMethodView(app, principal, await requireCard(app, principal, params.id!)) };
    },
  }),
  restRoute({
    method: 'PATCH',
    path: '/v2/payment-methods/{id}/update-saved-payment-method',
    operationId: 'updateSavedPaymentMethod',
    summary: "Update a payment method's holder and nick names, or record a connector's token for it",
    tag: TAG,
    body: paymentMethodUpdateRequest,
    fieldName: updateFields,
    responses: { 200: { description: 'The payment method.', schema: paymentMethodResponse } },
    async handle({ app, principal, params, body }) {
      const card = body.payment_method_data?.card;
      const details = body.connector_token_details;
      // Not a card: refused before anything changes, as the answer could not show it. (Absent: the domain says so.)
      const existing = await findPaymentMethod(app, principal, params.id!);
      if (existing && !isCard(existing)) throw notACard();
      const pm = await updatePaymentMethod(app, principal, params.id!, {
        holderName: card?.card_holder_name,
        nickName: card?.nick_name,
        connectorTokenDetails: details && {
          // Seed 000 sends no connector id: the token is the default connector's of the key's mode.
          connectorId: details.connector_id ?? connectorFor(app.connectors, principal).id,
          token: details.token,
          tokenizationType: details.token_type?.toUpperCase(),
          connectorTokenRequestReferenceId: details.connector_token_request_reference_id,
        },
      });
      return { status: 200, body: await paymentMethodView(app, principal, pm) };
    },
  }),
  restRoute({
    method: 'DELETE',
    path: '/v2/payment-methods/{id}',
    operationId: 'deletePaymentMethod',
    summary: 'Delete a payment method: its card data is destroyed and the id reads as absent',
    tag: TAG,
    fieldName: paymentMethodFields,
    responses: { 200: { description: 'The deleted id.', schema: deleteResponse } },
    async handle({ app, principal, params }) {
      const { deletedId } = await deletePaymentMethod(app, principal, params.id!);
      return { status: 200, body: { id: deletedId } };
    },
  }),
];
