import { z } from 'zod';
import type { App } from '../../../app/app.js';
import { maskedIban } from '../../../card/bankAccount.js';
import { createCustomer, customerAddress, customerField, findCustomer } from '../../../domain/customers/customers.js';
import { findNetworkToken, networkTokenView } from '../../../domain/paymentMethods/networkTokens.js';
import {
  billingOf,
  deletePaymentMethod,
  findPaymentMethod,
  listCustomerPaymentMethods,
  maskedBankAccount,
  maskedCard,
  tokenizeBankAccount,
  tokenizeCard,
  type BankAccountView,
  updatePaymentMethod,
} from '../../../domain/paymentMethods/paymentMethods.js';
import { listPspTokens, pspTokenValue } from '../../../domain/paymentMethods/pspTokens.js';
import { NotFound, ValidationFailed } from '../../../domain/shared/errors.js';
import type { Principal } from '../../../domain/shared/principal.js';
import type { Customer, PaymentMethod } from '../../../generated/prisma/client.js';
import type { CardBrand } from '../../../generated/prisma/enums.js';
import { connectorFor } from '../../../integrations/connectors/index.js';
import { RestError, validationError, type FieldNamer } from './errors.js';
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

// Bank debits: Hyperswitch's BankDebitData (crates/api_models/src/payments.rs), one variant per subtype. Its
// `billing_details` is not taken (the payment method's `billing` is); `bic` is the vault's addition to SEPA.
const holderName = str.meta({ description: "The account holder's name: required (for ACH, card_holder_name is taken too)." });
const notKept = (what: string) => str.meta({ description: `${what}: accepted for compatibility, not kept.` });

const achBankDebit = z.strictObject({
  account_number: z.string().meta({ description: '4 to 17 digits.' }),
  routing_number: z.string().meta({ description: 'The 9-digit ABA routing number (its checksum is checked).' }),
  bank_account_holder_name: holderName,
  card_holder_name: str.meta({ description: 'Taken as the holder name when bank_account_holder_name is absent.' }),
  bank_name: notKept('The bank'),
  bank_type: z.enum(['checking', 'savings']).nullish(),
  bank_holder_type: z.enum(['personal', 'business']).nullish().meta({ description: 'Accepted for compatibility, not kept.' }),
});

const sepaBankDebit = z.strictObject({
  iban: z.string().meta({ description: "An IBAN of a SEPA country (spaces allowed): mod-97 and its country's length and format." }),
  bank_account_holder_name: holderName,
  bic: str.meta({ description: "The bank's BIC, 8 or 11 characters (optional; not in Hyperswitch's SepaBankDebit)." }),
});

const bacsBankDebit = z.strictObject({
  account_number: z.string().meta({ description: '8 digits.' }),
  sort_code: z.string().meta({ description: '6 digits, dashes allowed (e.g. "10-88-00").' }),
  bank_account_holder_name: holderName,
});

const bankDebitDetail = z
  .strictObject({
    ach_bank_debit: achBankDebit.optional(),
    sepa_bank_debit: sepaBankDebit.optional(),
    bacs_bank_debit: bacsBankDebit.optional(),
  })
  .meta({ description: 'Exactly one variant, the one payment_method_subtype names.' });

const paymentMethodRequest = z.strictObject({
  payment_method_type: z.string().meta({ description: '"card" or "bank_debit".' }),
  payment_method_subtype: str.meta({
    description: 'Cards: e.g. "credit" (informational). Bank debits: "ach", "sepa" or "bacs", as the data\'s variant.',
  }),
  metadata: metadataSchema.nullish(),
  customer_id: str.meta({ description: 'A customer of this merchant (`cus_…`).' }),
  // Open to other kinds' data (`wallet`, …), so a request for one is answered "unsupported" by its
  // payment_method_type rather than as an unknown field.
  payment_method_data: z.object({ card: cardDetail.optional(), bank_debit: bankDebitDetail.optional() }).catchall(z.unknown()),
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
      bank_debit: z
        .strictObject({ bank_account_holder_name: str, nick_name: str })
        .optional()
        .meta({ description: "For a bank account (the vault's shape: Hyperswitch updates cards only)." }),
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

const bankDebitCommon = {
  bank_account_holder_name: z.string().nullable(),
  nick_name: z.string().nullable(),
  last4_digits: z.string().meta({ description: 'The last four characters of the account number or IBAN.' }),
  bank_code: z.string().nullable().meta({ description: "The routing number, the sort code, or the IBAN's bank identifier." }),
  bank_country: z.string().meta({ description: "ISO 3166-1 alpha-2: the IBAN's country, US for ACH, GB for BACS." }),
  bank_type: z.enum(['checking', 'savings']).nullable(),
  bank_account_fingerprint: z.string(),
  saved_to_locker: z.boolean(),
};

const bankDebitResponse = z.union([
  z.strictObject({
    ach_bank_debit: z.strictObject({
      ...bankDebitCommon,
      account_number_last4_digits: z.string(),
      routing_number: z.string(),
      routing_number_last4_digits: z.string(),
    }),
  }),
  z.strictObject({
    sepa_bank_debit: z.strictObject({
      ...bankDebitCommon,
      iban: z.string().meta({ description: 'Masked: the country, then * but for the last four.' }),
      bic: z.string().nullable(),
    }),
  }),
  z.strictObject({
    bacs_bank_debit: z.strictObject({
      ...bankDebitCommon,
      account_number: z.string().meta({ description: 'Masked: **** and the last four.' }),
      sort_code: z.string(),
    }),
  }),
]);

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
  payment_method_type: z.enum(['card', 'bank_debit']),
  payment_method_subtype: z
    .string()
    .nullable()
    .meta({ description: 'The card type ("credit", …) or the bank scheme ("ach", "sepa", "bacs").' }),
  recurring_enabled: z.boolean(),
  created: z.string(),
  last_used_at: z.string().nullable(),
  payment_method_data: z.union([z.strictObject({ card: cardResponse }), z.strictObject({ bank_debit: bankDebitResponse })]),
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

/** The bank scheme as the subtype and data variant Hyperswitch names it. */
const SUBTYPES = ['ach', 'sepa', 'bacs'] as const;
type Subtype = (typeof SUBTYPES)[number];
const VARIANT = { ach: 'ach_bank_debit', sepa: 'sepa_bank_debit', bacs: 'bacs_bank_debit' } as const satisfies Record<Subtype, string>;

/** The masked bank account in Hyperswitch's shape: never the account number or IBAN (the view has neither). */
async function bankDebitView(pm: PaymentMethod, bank: BankAccountView): Promise<z.output<typeof bankDebitResponse>> {
  const [holder, nickName] = await Promise.all([bank.holderName(), bank.nickName()]);
  const common = {
    bank_account_holder_name: holder,
    nick_name: nickName,
    last4_digits: bank.last4,
    bank_code: bank.bankCode,
    bank_country: bank.country,
    bank_type: bank.accountType ? lower(bank.accountType) : null,
    bank_account_fingerprint: pm.fingerprint,
    saved_to_locker: true,
  };
  const code = bank.bankCode ?? '';
  switch (bank.scheme) {
    case 'ACH':
      return {
        ach_bank_debit: {
          ...common,
          account_number_last4_digits: bank.last4,
          routing_number: code,
          routing_number_last4_digits: code.slice(-4),
        },
      };
    case 'SEPA':
      return { sepa_bank_debit: { ...common, iban: maskedIban(bank.country, bank.last4), bic: bank.bic } };
    case 'BACS':
      return { bacs_bank_debit: { ...common, account_number: `****${bank.last4}`, sort_code: code } };
  }
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

/** The payment method's own data: the masked card, or the masked bank account (a card's network token beside it). */
async function methodData(app: App, principal: Principal, pm: PaymentMethod) {
  const bank = maskedBankAccount(app, pm);
  if (bank) {
    return {
      type: 'bank_debit' as const,
      subtype: lower(bank.scheme),
      data: { bank_debit: await bankDebitView(pm, bank) },
      networkToken: null,
    };
  }
  const card = await cardView(app, pm);
  return {
    type: 'card' as const,
    subtype: card.card_type,
    data: { card },
    networkToken: await networkTokenOf(app, principal, pm, card.card_network),
  };
}

async function paymentMethodView(app: App, principal: Principal, pm: PaymentMethod): Promise<z.output<typeof paymentMethodResponse>> {
  const [method, billing, connectorTokens] = await Promise.all([
    methodData(app, principal, pm),
    billingOf(app, pm),
    connectorTokensOf(app, principal, pm),
  ]);
  return {
    id: pm.id,
    merchant_id: pm.merchantId,
    customer_id: pm.customerId,
    payment_method_type: method.type,
    payment_method_subtype: method.subtype,
    recurring_enabled: true,
    created: pm.createdAt.toISOString(),
    last_used_at: pm.lastUsedAt?.toISOString() ?? null,
    payment_method_data: method.data,
    billing: billingView(billing),
    metadata: (pm.metadata as Record<string, unknown> | null) ?? null,
    connector_tokens: connectorTokens,
    network_token: method.networkToken,
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
    // A stored card pays without its CVC (the vault never keeps one); a bank account has none.
    requires_cvv: false,
    is_default: false,
    network_tokenization: full.network_token,
    psp_tokenization_enabled: full.connector_tokens.some((t) => t.status === 'active' && t.token_type === 'multi_use'),
  };
}

/** A payment method of the key's tenant (card or bank account): 404 when absent. */
async function requirePaymentMethod(app: App, principal: Principal, id: string): Promise<PaymentMethod> {
  const pm = await findPaymentMethod(app, principal, id);
  if (!pm) throw new NotFound('payment method', id);
  return pm;
}

/** A 400 naming every field refused by the shape of a request (before any domain call: nothing changed). */
function refused(fields: readonly (readonly [param: string, message: string])[]): RestError {
  const named = fields.map(([param, message]) => ({ param, code: 'invalid_input', message }));
  const [first] = named;
  const message = named.length === 1 && first ? `${first.param}: ${first.message}` : `${named.length} fields are invalid`;
  return new RestError(400, 'invalid_request_error', 'invalid_input', message, { fields: named });
}

/** The domain's validation failures named by `name` (a namer chosen by the body, e.g. its bank debit variant). */
async function namedBy<T>(name: FieldNamer, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw err instanceof ValidationFailed ? validationError(err.fields, name) : err;
  }
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
type BankDebitDetail = z.output<typeof bankDebitDetail>;

const orUndefined = <T>(v: T | null | undefined): T | undefined => v ?? undefined;

/** Hyperswitch's bank debit variant, as the domain's BankAccountInput (the domain checks every value). */
function bankAccountInput(subtype: Subtype, data: BankDebitDetail) {
  if (subtype === 'ach') {
    const a = data.ach_bank_debit!;
    return {
      scheme: 'ACH',
      holderName: orUndefined(a.bank_account_holder_name ?? a.card_holder_name),
      accountType: orUndefined(a.bank_type?.toUpperCase()),
      routingNumber: a.routing_number,
      accountNumber: a.account_number,
    };
  }
  if (subtype === 'sepa') {
    const a = data.sepa_bank_debit!;
    return { scheme: 'SEPA', holderName: orUndefined(a.bank_account_holder_name), iban: a.iban, bic: orUndefined(a.bic) };
  }
  const a = data.bacs_bank_debit!;
  return { scheme: 'BACS', holderName: orUndefined(a.bank_account_holder_name), sortCode: a.sort_code, accountNumber: a.account_number };
}

/** The domain's bank account paths by the variant's names (the rest, e.g. billing, snake-cased as usual). */
const bankFields = Object.fromEntries(
  SUBTYPES.map((subtype) => {
    const at = `payment_method_data.bank_debit.${VARIANT[subtype]}`;
    return [
      subtype,
      fieldNamer({
        bankAccount: at,
        'bankAccount.holderName': `${at}.bank_account_holder_name`,
        'bankAccount.accountType': `${at}.bank_type`,
        'bankAccount.scheme': 'payment_method_subtype',
      }),
    ];
  }),
) as Record<Subtype, FieldNamer>;

/**
 * How each `payment_method_type` becomes the domain's input. Cards are vaulted by tokenizeCard; bank accounts
 * (`bank_debit` with subtype `ach`, `sepa`, `bacs`, …) slot in here with their own domain function.
 */
const PAYMENT_METHOD_TYPES: Record<string, (app: App, principal: Principal, body: PaymentMethodRequest) => Promise<PaymentMethod>> = {
  card: async (app, principal, body) => {
    const card = body.payment_method_data.card;
    const wrong: [string, string][] = [];
    if (!card) wrong.push(['payment_method_data.card', 'Required for payment_method_type "card"']);
    if (body.payment_method_data.bank_debit) wrong.push(['payment_method_data.bank_debit', 'Not used by payment_method_type "card"']);
    if (!card || wrong.length > 0) throw refused(wrong);
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
  bank_debit: async (app, principal, body) => {
    const data = body.payment_method_data.bank_debit;
    const given = SUBTYPES.filter((s) => data?.[VARIANT[s]] !== undefined);
    const subtype = given.length === 1 ? given[0]! : undefined;
    const wrong: [string, string][] = [];
    if (!subtype) {
      wrong.push(['payment_method_data.bank_debit', 'Exactly one of ach_bank_debit, sepa_bank_debit, bacs_bank_debit is required']);
    } else if (body.payment_method_subtype != null && body.payment_method_subtype !== subtype) {
      wrong.push(['payment_method_subtype', `Must be "${subtype}" for ${VARIANT[subtype]}`]);
    }
    if (body.payment_method_data.card) wrong.push(['payment_method_data.card', 'Not used by payment_method_type "bank_debit"']);
    for (const field of ['psp_tokenization', 'network_tokenization'] as const) {
      if (body[field] != null) wrong.push([field, 'Cards only']);
    }
    if (!subtype || !data || wrong.length > 0) throw refused(wrong);
    const { paymentMethod } = await namedBy(bankFields[subtype], () =>
      tokenizeBankAccount(app, principal, {
        customerId: body.customer_id,
        bankAccount: bankAccountInput(subtype, data),
        billing: billingInput(body.billing),
        metadata: body.metadata,
      }),
    );
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

const bankUpdateFields = fieldNamer({
  holderName: 'payment_method_data.bank_debit.bank_account_holder_name',
  nickName: 'payment_method_data.bank_debit.nick_name',
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
      const rows = await listCustomerPaymentMethods(app, principal, params.id!);
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
    summary:
      'Vault a card (with PSP and network tokens on request) or a bank account (ACH, SEPA, BACS); the same card or account again returns the same payment method',
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
          'payment_method_type: only "card" and "bank_debit" are supported',
          {
            fields: [
              {
                param: 'payment_method_type',
                code: 'unsupported_payment_method_type',
                message: 'Only "card" and "bank_debit" are supported',
              },
            ],
          },
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
    summary: 'Retrieve a payment method (the masked card or bank account)',
    tag: TAG,
    fieldName: paymentMethodFields,
    responses: { 200: { description: 'The payment method.', schema: paymentMethodResponse } },
    async handle({ app, principal, params }) {
      return { status: 200, body: await paymentMethodView(app, principal, await requirePaymentMethod(app, principal, params.id!)) };
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
      const bank = body.payment_method_data?.bank_debit;
      const details = body.connector_token_details;
      // The other kind's fields are refused before anything changes (a payment method never changes kind).
      // Absent: the domain says so.
      const existing = await findPaymentMethod(app, principal, params.id!);
      const isBank = existing?.type === 'BANK_ACCOUNT';
      if (existing && isBank && card) throw refused([['payment_method_data.card', 'This payment method is a bank account']]);
      if (existing && !isBank && bank) throw refused([['payment_method_data.bank_debit', 'This payment method is a card']]);
      const names = isBank
        ? { holderName: bank?.bank_account_holder_name, nickName: bank?.nick_name }
        : { holderName: card?.card_holder_name, nickName: card?.nick_name };
      const pm = await namedBy(isBank ? bankUpdateFields : updateFields, () =>
        updatePaymentMethod(app, principal, params.id!, {
          ...names,
          connectorTokenDetails: details && {
            // Seed 000 sends no connector id: the token is the default connector's of the key's mode.
            connectorId: details.connector_id ?? connectorFor(app.connectors, principal).id,
            token: details.token,
            tokenizationType: details.token_type?.toUpperCase(),
            connectorTokenRequestReferenceId: details.connector_token_request_reference_id,
          },
        }),
      );
      return { status: 200, body: await paymentMethodView(app, principal, pm) };
    },
  }),
  restRoute({
    method: 'DELETE',
    path: '/v2/payment-methods/{id}',
    operationId: 'deletePaymentMethod',
    summary: 'Delete a payment method: its card or account data is destroyed and the id reads as absent',
    tag: TAG,
    fieldName: paymentMethodFields,
    responses: { 200: { description: 'The deleted id.', schema: deleteResponse } },
    async handle({ app, principal, params }) {
      const { deletedId } = await deletePaymentMethod(app, principal, params.id!);
      return { status: 200, body: { id: deletedId } };
    },
  }),
];
