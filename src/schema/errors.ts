import {
  Conflict,
  ConnectorUnavailable,
  ForwardFailed,
  NotFound,
  RetentionLimitExceeded,
  TokenAlreadyUsed,
  TokenExpired,
  TokenizationFailed,
  TooManyAttempts,
  ValidationFailed,
  VaultError,
  type ErrorCode,
  type FieldError,
} from '../errors.js';
import { builder } from './builder.js';

const codes: ErrorCode[] = [
  'INVALID_INPUT',
  'INVALID_CARD_NUMBER',
  'CARD_EXPIRED',
  'INVALID_EXPIRY',
  'INVALID_CVC',
  'NOT_FOUND',
  'CONFLICT',
  'RETENTION_LIMIT_EXCEEDED',
  'TOKEN_EXPIRED',
  'TOKEN_ALREADY_USED',
  'IDEMPOTENCY_CONFLICT',
  'CONNECTOR_UNAVAILABLE',
  'TOKENIZATION_FAILED',
  'FORWARD_FAILED',
  'TOO_MANY_ATTEMPTS',
];

export const ErrorCodeEnum = builder.enumType('ErrorCode', {
  description: 'Machine-readable reason of a domain or validation failure.',
  values: codes,
});

export const ErrorInterface = builder.interfaceRef<VaultError>('Error').implement({
  description: 'A domain failure returned as data: the mutation changed nothing.',
  fields: (t) => ({
    code: t.field({ type: ErrorCodeEnum, resolve: (e) => e.code }),
    message: t.exposeString('message', { description: 'Says what failed; never repeats card data.' }),
  }),
});

const FieldErrorType = builder.objectRef<FieldError>('FieldError').implement({
  description: 'One failing input field.',
  fields: (t) => ({
    path: t.exposeStringList('path', { description: 'Path of the field from the argument, e.g. ["input","card","number"].' }),
    code: t.field({ type: ErrorCodeEnum, resolve: (e) => e.code }),
    message: t.exposeString('message'),
  }),
});

builder.objectType(ValidationFailed, {
  name: 'ValidationError',
  description: 'The input was refused; every failing field is listed. `code` is that of the first field.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof ValidationFailed,
  fields: (t) => ({ fields: t.field({ type: [FieldErrorType], resolve: (e) => e.fields }) }),
});

builder.objectType(NotFound, {
  name: 'NotFoundError',
  description: 'No such record for this key: absent, deleted, or another tenant\'s (indistinguishable).',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof NotFound,
  fields: () => ({}),
});

builder.objectType(RetentionLimitExceeded, {
  name: 'RetentionLimitExceededError',
  description: 'The total retention extension would pass its limit; nothing changed.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof RetentionLimitExceeded,
  fields: (t) => ({
    maxMonths: t.exposeInt('maxMonths', { description: 'Largest total extension allowed.' }),
    remainingMonths: t.exposeInt('remainingMonths', { description: 'Months that may still be added.' }),
  }),
});

builder.objectType(TokenExpired, {
  name: 'TokenExpiredError',
  description: 'The card token is past its 30 minutes; ask the customer to enter the card again.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof TokenExpired,
  fields: () => ({}),
});

builder.objectType(TokenAlreadyUsed, {
  name: 'TokenAlreadyUsedError',
  description: 'The card token was already used: tokens are single use.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof TokenAlreadyUsed,
  fields: () => ({}),
});

builder.objectType(Conflict, {
  name: 'ConflictError',
  description: "The operation does not fit the record's current state; nothing changed.",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof Conflict,
  fields: () => ({}),
});

builder.objectType(ConnectorUnavailable, {
  name: 'ConnectorUnavailableError',
  description: 'No payment connector can take this payment (unknown connector id, or none configured for this mode); nothing changed.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof ConnectorUnavailable,
  fields: () => ({}),
});

builder.objectType(TokenizationFailed, {
  name: 'TokenizationFailedError',
  description: 'The connector or token service provider would not issue a token for this card; nothing was stored.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof TokenizationFailed,
  fields: () => ({}),
});

const ForwardFailureReason = builder.enumType('ForwardFailureReason', {
  values: ['UNREACHABLE', 'TIMEOUT', 'RESPONSE_TOO_LARGE', 'TOO_MANY_REDIRECTS'] as const,
});

builder.objectType(ForwardFailed, {
  name: 'ForwardFailedError',
  description: 'The upstream gave no usable answer. The card may have been sent: the forward is audited either way.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof ForwardFailed,
  fields: (t) => ({ reason: t.field({ type: ForwardFailureReason, resolve: (e) => e.reason }) }),
});

builder.objectType(TooManyAttempts, {
  name: 'TooManyAttemptsError',
  description:
    'Refused as a possible enumeration of stored cards: this api key tokenized too many different numbers sharing a bin and last four, ' +
    'or hit too many different stored cards, within the window (VAULT_ENUMERATION_*). Nothing was stored or paid; the refusal is audited.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof TooManyAttempts,
  fields: () => ({}),
});
