// The inputs of payment operations, built on the shared field schemas of domain/shared/inputSchemas.ts.

import { z } from 'zod';
import { isCurrencyCode } from '../../card/currencies.js';
import {
  PRINTABLE,
  cardInputSchema,
  crossField,
  hasCredentials,
  httpUrlSchema,
  optional,
  passedField,
  text,
} from '../shared/inputSchemas.js';

/** Largest amount of one payment, in minor units (999,999.99 in a two-decimal currency). */
const MAX_PAYMENT_AMOUNT = 99_999_999;

const currencySchema = z.string().trim().toUpperCase().refine(isCurrencyCode, 'Must be an ISO 4217 currency code');

export const captureAmountSchema = z.int().min(1).max(MAX_PAYMENT_AMOUNT);

export const createPaymentInputSchema = z
  .object({
    amount: z.int().min(1).max(MAX_PAYMENT_AMOUNT),
    currency: currencySchema,
    paymentMethodId: optional(text(64, PRINTABLE)),
    token: optional(text(200, PRINTABLE)),
    card: optional(cardInputSchema),
    customerId: optional(text(64, PRINTABLE)),
    captureMethod: optional(z.enum(['AUTOMATIC', 'MANUAL'])),
    initiator: optional(z.enum(['CUSTOMER', 'MERCHANT'])),
    savePaymentMethod: optional(z.boolean()),
    connectorId: optional(text(64, PRINTABLE)),
    // The customer's browser is sent there, with the URL in its history and the address bar.
    returnUrl: optional(httpUrlSchema.refine((u) => !hasCredentials(u), 'Must not contain credentials (user:password@)')),
  })
  .superRefine((input, ctx) => {
    const passed = passedField(ctx);
    const given = (key: keyof typeof input) => !passed(key) || input[key] !== undefined;
    if ((['paymentMethodId', 'token', 'card'] as const).filter(given).length !== 1) {
      ctx.addIssue({ code: 'custom', path: ['card'], message: 'Provide exactly one of paymentMethodId, token or card' });
    }
    if (passed('savePaymentMethod') && input.savePaymentMethod && !given('card') && !given('token')) {
      ctx.addIssue({ code: 'custom', path: ['savePaymentMethod'], message: 'Only a card or a card token can be saved during a payment' });
    }
    if (passed('initiator') && input.initiator === 'MERCHANT' && !given('paymentMethodId')) {
      ctx.addIssue({ code: 'custom', path: ['initiator'], message: 'A merchant-initiated payment needs a stored payment method' });
    }
  }, crossField)
  .transform(({ captureMethod, initiator, savePaymentMethod, ...rest }) => ({
    ...rest,
    captureMethod: captureMethod ?? 'AUTOMATIC',
    initiator: initiator ?? 'CUSTOMER',
    savePaymentMethod: savePaymentMethod ?? false,
  }));

export type CreatePaymentInput = z.output<typeof createPaymentInputSchema>;
