// The inputs of payment method operations (tokenize, update, retention, PSP and network tokens), built on
// the shared field schemas of domain/shared/inputSchemas.ts.

import { z } from 'zod';
import { fullExpYear } from '../../card/expiry.js';
import {
  PRINTABLE,
  addExpiryIssues,
  billingInputSchema,
  cardInputSchema,
  clearable,
  crossField,
  metadataSchema,
  validationTime,
  optional,
  passedField,
  text,
} from '../shared/inputSchemas.js';

const tokenizationTypeSchema = z.enum(['SINGLE_USE', 'MULTI_USE']);
const connectorIdSchema = text(64, PRINTABLE).min(1);

/** A PSP's token, recorded as given (like every text field, never a card number: it is shown as is). */
const pspTokenValueSchema = text(512, PRINTABLE).min(1);

const pspTokenizationInputSchema = z.object({
  tokenizationType: tokenizationTypeSchema,
  connectorId: connectorIdSchema,
});

const networkTokenizationInputSchema = z.object({ enable: z.boolean() });

export const SIMULATED_NETWORK_TOKEN_EVENTS = ['SUSPEND', 'RESUME', 'DELETE', 'UPDATE_EXPIRY'] as const;

export const simulateNetworkTokenEventInputSchema = z
  .object({
    paymentMethodId: text(64, PRINTABLE).min(1),
    event: z.enum(SIMULATED_NETWORK_TOKEN_EVENTS),
    expMonth: z.int().min(1).max(12).nullish(),
    expYear: z.int().min(2000).max(2099).nullish(),
  })
  .superRefine((input, ctx) => {
    if (input.event === 'UPDATE_EXPIRY' && (input.expMonth == null || input.expYear == null)) {
      ctx.addIssue({ code: 'custom', path: ['expMonth'], message: 'UPDATE_EXPIRY needs expMonth and expYear (four digits)' });
    }
  });

const connectorTokenDetailsInputSchema = z.object({
  connectorId: connectorIdSchema,
  token: pspTokenValueSchema,
  tokenizationType: optional(tokenizationTypeSchema),
  connectorTokenRequestReferenceId: optional(text(200, PRINTABLE)),
});

export const updatePaymentMethodInputSchema = z
  .object({
    connectorTokenDetails: optional(connectorTokenDetailsInputSchema),
    holderName: clearable(text(100)),
    nickName: clearable(text(100)),
    expMonth: optional(z.int()),
    expYear: optional(z.int()),
    billing: clearable(billingInputSchema),
    metadata: clearable(metadataSchema),
  })
  .superRefine((input, ctx) => {
    const passed = passedField(ctx);
    // A field that failed was given: absent values always pass `optional`.
    const hasMonth = !passed('expMonth') || input.expMonth !== undefined;
    const hasYear = !passed('expYear') || input.expYear !== undefined;
    if (hasMonth !== hasYear) {
      const [missing, given] = hasMonth ? ['expYear', 'expMonth'] : ['expMonth', 'expYear'];
      ctx.addIssue({ code: 'custom', path: [missing], message: `Required together with ${given}` });
    } else if (hasMonth) {
      addExpiryIssues(
        ctx,
        passed('expMonth') ? input.expMonth : undefined,
        passed('expYear') ? input.expYear : undefined,
        validationTime(),
      );
    }
  }, crossField)
  .transform(({ expYear, ...rest }) => ({
    ...rest,
    expYear: expYear === undefined ? undefined : fullExpYear(expYear),
  }));

export const tokenizeCardInputSchema = z
  .object({
    customerId: optional(text(64, PRINTABLE)),
    card: optional(cardInputSchema),
    token: optional(text(200, PRINTABLE)),
    billing: optional(billingInputSchema),
    metadata: optional(metadataSchema),
    pspTokenization: optional(pspTokenizationInputSchema),
    networkTokenization: optional(networkTokenizationInputSchema),
  })
  .superRefine((input, ctx) => {
    const passed = passedField(ctx);
    const hasCard = !passed('card') || input.card !== undefined;
    const hasToken = !passed('token') || input.token !== undefined;
    if (hasCard === hasToken) {
      ctx.addIssue({ code: 'custom', path: ['card'], message: 'Provide exactly one of card or token' });
    }
  }, crossField);

export const extendRetentionMonthsSchema = z.int().min(1, 'Must be between 1 and 24 months').max(24, 'Must be between 1 and 24 months');
