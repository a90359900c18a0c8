import { z } from 'zod';
import type { App } from '../../../app/app.js';
import { createCardToken } from '../../../domain/cardTokens/cardTokens.js';
import { maskedCard } from '../../../domain/paymentMethods/paymentMethods.js';
import { createPayment, paymentRedirectUrl } from '../../../domain/payments/payments.js';
import type { Payment } from '../../../generated/prisma/client.js';
import { restRoute, type RestRoute } from './router.js';
import { billingInput, billingSchema, brandName, digitsOrNumber, fieldNamer, toInt } from './shapes.js';

// Seed 002's token and payment API: a publishable key (or a secret one) turns a card into a single-use
// `tok_…` valid 30 minutes; a secret key pays with it (or with a stored `pm_…`). The payment's status decides
// the HTTP status: completed and authorized 201, requires_action 202 (with redirect_url), failed 400.

const TAG = 'Card tokens and payments';
const str = z.string().nullish();

const tokenRequest = z.strictObject({
  card: z.strictObject({
    number: z.string().meta({ description: '12-19 digits; spaces and dashes allowed.' }),
    exp_month: digitsOrNumber.meta({ description: '1-12.' }),
    exp_year: digitsOrNumber.meta({ description: 'Two digits or four.' }),
    cvc: str.meta({ description: 'Kept, encrypted, only until the token is used.' }),
    name: str.meta({ description: "The cardholder's name." }),
  }),
  billing: billingSchema.nullish(),
});

const maskedCardResponse = z.strictObject({
  bin: z.string().meta({ description: 'First 6 digits.' }),
  last4: z.string(),
  brand: z.string().meta({ description: 'visa, mastercard, amex, discover, …' }),
  exp_month: z.int(),
  exp_year: z.int().meta({ description: 'Four digits.' }),
});

const tokenResponse = z.strictObject({
  id: z.string().meta({ description: 'The token (`tok_…`): single use, valid 30 minutes.' }),
  card: maskedCardResponse,
  expires_at: z.string().meta({ description: 'ISO 8601.' }),
});

const paymentRequest = z.strictObject({
  amount: z.int().meta({ description: 'In minor units of currency (cents for USD): 1 to 99999999.' }),
  currency: z.string().meta({ description: 'ISO 4217 code, e.g. "USD".' }),
  token: str.meta({ description: 'A `tok_…` card token; the payment spends it.' }),
  payment_method_id: str.meta({ description: 'A stored payment method (`pm_…`).' }),
  customer_id: str,
  capture_method: z.enum(['automatic', 'manual']).nullish().meta({ description: 'manual only authorizes. Default automatic.' }),
  return_url: str.meta({ description: 'Where the customer returns after 3-D Secure, with payment_id and status appended.' }),
});

const STATUSES = ['completed', 'authorized', 'requires_action', 'failed', 'cancelled'] as const;

const paymentResponse = z.strictObject({
  id: z.string().meta({ description: 'The payment (`pay_…`).' }),
  status: z.enum(STATUSES),
  amount: z.int(),
  amount_captured: z.int(),
  currency: z.string(),
  capture_method: z.enum(['automatic', 'manual']),
  payment_method_id: z.string().nullable(),
  card: maskedCardResponse.nullable().meta({ description: 'The masked card paid with (null for a payment without a card).' }),
  redirect_url: z.string().nullable().meta({ description: 'requires_action: send the customer here.' }),
  failure_code: z.string().nullable(),
  failure_message: z.string().nullable(),
  created_at: z.string(),
  error: z
    .strictObject({ type: z.literal('card_error'), code: z.string(), message: z.string() })
    .optional()
    .meta({ description: 'failed: why, in the error shape.' }),
});

/** The seed's HTTP status for each status a new payment can have. */
const HTTP_STATUS: Record<Payment['status'], number> = {
  COMPLETED: 201,
  AUTHORIZED: 201,
  REQUIRES_ACTION: 202,
  FAILED: 400,
  CANCELLED: 200,
};

/** Whether a payment was made with a card (the bank accounts work adds payments without one). */
const hasCard = (p: { bin: string | null; brand: string | null }) => p.bin !== null && p.brand !== null;

async function paymentView(app: App, p: Payment): Promise<z.output<typeof paymentResponse>> {
  const [card, redirectUrl] = await Promise.all([hasCard(p) ? maskedCard(app, p, 'Payment') : null, paymentRedirectUrl(app, p)]);
  const failed = p.status === 'FAILED';
  return {
    id: p.id,
    status: p.status.toLowerCase() as (typeof STATUSES)[number],
    amount: p.amount,
    amount_captured: p.amountCaptured,
    currency: p.currency,
    capture_method: p.captureMethod === 'MANUAL' ? 'manual' : 'automatic',
    payment_method_id: p.paymentMethodId,
    card: card && { bin: card.bin, last4: card.last4, brand: brandName(card.brand), exp_month: card.expMonth, exp_year: card.expYear },
    redirect_url: p.status === 'REQUIRES_ACTION' ? redirectUrl : null,
    failure_code: p.failureCode,
    failure_message: p.failureMessage,
    created_at: p.createdAt.toISOString(),
    ...(failed && {
      error: { type: 'card_error' as const, code: p.failureCode ?? 'payment_failed', message: p.failureMessage ?? 'The payment failed' },
    }),
  };
}

export const tokenRoutes: RestRoute[] = [
  restRoute({
    method: 'POST',
    path: '/v1/tokens',
    operationId: 'createToken',
    summary: 'Tokenize a card for one later use (publishable or secret key)',
    tag: TAG,
    publishable: true,
    body: tokenRequest,
    fieldName: fieldNamer({ 'card.expMonth': 'card.exp_month', 'card.expYear': 'card.exp_year', 'card.holderName': 'card.name' }),
    responses: { 201: { description: 'The token.', schema: tokenResponse } },
    async handle({ app, principal, body }) {
      const { card } = body;
      const token = await createCardToken(app, principal, {
        card: { number: card.number, expMonth: toInt(card.exp_month), expYear: toInt(card.exp_year), cvc: card.cvc, holderName: card.name },
        billing: billingInput(body.billing),
      });
      const masked = await maskedCard(app, token, 'CardToken');
      return {
        status: 201,
        body: {
          id: token.id,
          card: {
            bin: masked.bin,
            last4: masked.last4,
            brand: brandName(masked.brand),
            exp_month: masked.expMonth,
            exp_year: masked.expYear,
          },
          expires_at: token.expiresAt.toISOString(),
        } satisfies z.output<typeof tokenResponse>,
      };
    },
  }),
  restRoute({
    method: 'POST',
    path: '/v1/payments',
    operationId: 'createPayment',
    summary: 'Pay with a card token or a stored payment method (secret key)',
    tag: TAG,
    body: paymentRequest,
    fieldName: fieldNamer({ card: 'token', paymentMethodId: 'payment_method_id' }),
    responses: {
      201: { description: 'completed, or authorized (capture_method manual).', schema: paymentResponse },
      202: { description: 'requires_action: redirect the customer to redirect_url (3-D Secure).', schema: paymentResponse },
      400: { description: 'failed (declined, insufficient funds), or a request refused (the error shape).', schema: paymentResponse },
    },
    async handle({ app, principal, body, idempotency }) {
      const payment = await createPayment(
        app,
        principal,
        {
          amount: body.amount,
          currency: body.currency,
          token: body.token,
          paymentMethodId: body.payment_method_id,
          customerId: body.customer_id,
          captureMethod: body.capture_method?.toUpperCase(),
          returnUrl: body.return_url,
        },
        idempotency && { idempotency },
      );
      return { status: HTTP_STATUS[payment.status], body: await paymentView(app, payment) };
    },
  }),
];
