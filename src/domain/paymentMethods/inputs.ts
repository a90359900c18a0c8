// The inputs of payment method operations (tokenize, update, retention, PSP and network tokens), built on
// the shared field schemas of domain/shared/inputSchemas.ts.

import { z } from 'zod';
import { fullExpYear } from '../../card/expiry.js';
import {
  accountIdentity,
  checkBacsAccountNumber,
  checkBic,
  checkAchAccountNumber,
  checkIban,
  checkRoutingNumber,
  checkSortCode,
  type Check,
} from '../../card/bankAccount.js';
import { Secret } from '../../crypto/secret.js';
import {
  PRINTABLE,
  addExpiryIssues,
  billingInputSchema,
  cardInputSchema,
  clearable,
  coded,
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

// ---------------------------------------------------------------------------------------------------------
// Bank accounts

const BANK_FIELDS = {
  SEPA: { required: ['iban'], allowed: ['iban', 'bic'] },
  ACH: { required: ['routingNumber', 'accountNumber'], allowed: ['routingNumber', 'accountNumber'] },
  BACS: { required: ['sortCode', 'accountNumber'], allowed: ['sortCode', 'accountNumber'] },
} as const;

type BankField = 'iban' | 'bic' | 'routingNumber' | 'accountNumber' | 'sortCode';
const BANK_FIELD_NAMES: readonly BankField[] = ['iban', 'bic', 'routingNumber', 'accountNumber', 'sortCode'];

/** A bank identifier as typed: a string of at most 64 characters, checked by its scheme in bankAccountInputSchema. */
const bankIdentifier = optional(z.string().max(64));

/**
 * A bank account: the fields its scheme takes, each checked by its scheme's rule (src/card/bankAccount.ts), every
 * failing field listed. Fields of another scheme are refused rather than ignored. The IBAN or account number
 * leaves as a Secret (sealed, fingerprinted and sent to a connector only), with what may be shown beside it.
 */
export const bankAccountInputSchema = z
  .object({
    scheme: z.enum(['SEPA', 'ACH', 'BACS']),
    holderName: text(100).min(1, 'Required'),
    accountType: optional(z.enum(['CHECKING', 'SAVINGS'])),
    iban: bankIdentifier,
    bic: bankIdentifier,
    routingNumber: bankIdentifier,
    accountNumber: bankIdentifier,
    sortCode: bankIdentifier,
  })
  .superRefine((input, ctx) => {
    const passed = passedField(ctx);
    if (!passed('scheme')) return;
    const fields = BANK_FIELDS[input.scheme];
    for (const field of BANK_FIELD_NAMES) {
      const given = !passed(field) || input[field] !== undefined;
      if (given && !(fields.allowed as readonly string[]).includes(field)) {
        ctx.addIssue({ code: 'custom', path: [field], message: `Not used by ${input.scheme} accounts` });
      } else if (!given && (fields.required as readonly string[]).includes(field)) {
        ctx.addIssue({ code: 'custom', path: [field], message: `Required for ${input.scheme} accounts` });
      }
    }
    const check = (field: BankField, rule: (raw: string) => Check<unknown>) => {
      const raw = passed(field) ? input[field] : undefined;
      if (raw === undefined || !(fields.allowed as readonly string[]).includes(field)) return;
      const result = rule(raw);
      if (!result.ok) ctx.addIssue({ code: 'custom', path: [field], ...coded('INVALID_BANK_ACCOUNT', result.message) });
    };
    check('iban', checkIban);
    check('bic', checkBic);
    check('routingNumber', checkRoutingNumber);
    check('accountNumber', input.scheme === 'ACH' ? checkAchAccountNumber : checkBacsAccountNumber);
    check('sortCode', checkSortCode);
  }, crossField)
  .transform(({ scheme, holderName, accountType, iban, bic, routingNumber, accountNumber, sortCode }) => {
    // Every field passed its scheme's check by now: the checks are run again for their normalised values.
    const ok = <T>(result: Check<T>): T => {
      if (!result.ok) throw new Error('bank account input: unchecked field');
      return result.value;
    };
    if (scheme === 'SEPA') {
      const parts = ok(checkIban(iban!));
      return bankAccount(scheme, holderName, accountType, parts.iban, {
        country: parts.country,
        bankCode: parts.bankCode,
        bic: bic === undefined ? null : ok(checkBic(bic)),
      });
    }
    const bankCode = scheme === 'ACH' ? ok(checkRoutingNumber(routingNumber!)) : ok(checkSortCode(sortCode!));
    const number = accountNumber!.trim();
    return bankAccount(scheme, holderName, accountType, number, {
      country: scheme === 'ACH' ? 'US' : 'GB',
      bankCode,
      bic: null,
    });
  });

function bankAccount(
  scheme: 'SEPA' | 'ACH' | 'BACS',
  holderName: string,
  accountType: 'CHECKING' | 'SAVINGS' | undefined,
  number: string,
  shown: { country: string; bankCode: string | null; bic: string | null },
) {
  return {
    scheme,
    holderName,
    accountType: accountType ?? null,
    /** The IBAN (SEPA) or the account number (ACH, BACS): sealed, never shown. */
    number: new Secret(number),
    /** What the fingerprint covers with the scheme: the IBAN, or the bank code and the account number. */
    identity: new Secret(accountIdentity(scheme, number, shown.bankCode)),
    last4: number.slice(-4),
    ...shown,
  };
}

export type BankAccountInput = z.output<typeof bankAccountInputSchema>;

export const tokenizeBankAccountInputSchema = z.object({
  customerId: optional(text(64, PRINTABLE)),
  bankAccount: bankAccountInputSchema,
  billing: optional(billingInputSchema),
  metadata: optional(metadataSchema),
});
