import type { ObjectFieldsShape } from '@pothos/core';
import {
  Conflict,
  ConnectorUnavailable,
  ERROR_CODES,
  FORWARD_FAILURE_REASONS,
  ForwardFailed,
  NotFound,
  RetentionLimitExceeded,
  TokenAlreadyUsed,
  TokenExpired,
  TokenizationFailed,
  TooManyAttempts,
  ValidationFailed,
  type VaultError,
  type FieldError,
} from '../domain/shared/errors.js';
import { builder } from './builder.js';

const ErrorCodeEnum = builder.enumType('ErrorCode', {
  description: 'Machine-readable reason of a domain or validation failure.',
  values: ERROR_CODES,
});

const ErrorInterface = builder.interfaceRef<VaultError>('Error').implement({
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

const ForwardFailureReason = builder.enumType('ForwardFailureReason', { values: FORWARD_FAILURE_REASONS });

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

/**
 * Registers a domain error class as a GraphQL type implementing `Error`, the type a field's `errors: { types }`
 * lists; `fields` are those it has beyond `code` and `message`.
 */
function errorType<E extends VaultError>(
  errorClass: new (...args: never[]) => E,
  name: string,
  description: string,
  fields: ObjectFieldsShape<Types, E> = () => ({}),
): void {
  // `as never`: Pothos checks "shape extends the interface's" by a conditional type a generic E leaves
  // unresolved; E extends VaultError says it already.
  builder.objectType(errorClass, {
    name,
    description,
    interfaces: [ErrorInterface] as never,
    isTypeOf: (e) => e instanceof errorClass,
    fields,
  });
}

errorType(
  ValidationFailed,
  'ValidationError',
  'The input was refused; every failing field is listed. `code` is that of the first field.',
  (t) => ({
    fields: t.field({ type: [FieldErrorType], resolve: (e) => e.fields }),
  }),
);
errorType(NotFound, 'NotFoundError', "No such record for this key: absent, deleted, or another tenant's (indistinguishable).");
errorType(
  RetentionLimitExceeded,
  'RetentionLimitExceededError',
  'The total retention extension would pass its limit; nothing changed.',
  (t) => ({
    maxMonths: t.exposeInt('maxMonths', { description: 'Largest total extension allowed.' }),
    remainingMonths: t.exposeInt('remainingMonths', { description: 'Months that may still be added.' }),
  }),
);
errorType(TokenExpired, 'TokenExpiredError', 'The card token is past its 30 minutes; ask the customer to enter the card again.');
errorType(TokenAlreadyUsed, 'TokenAlreadyUsedError', 'The card token was already used: tokens are single use.');
errorType(Conflict, 'ConflictError', "The operation does not fit the record's current state; nothing changed.");
errorType(
  ConnectorUnavailable,
  'ConnectorUnavailableError',
  'No payment connector can take this payment (unknown connector id, or none configured for this mode); nothing changed.',
);
errorType(
  TokenizationFailed,
  'TokenizationFailedError',
  'The connector or token service provider would not issue a token for this card; nothing was stored.',
);
errorType(
  ForwardFailed,
  'ForwardFailedError',
  'The upstream gave no usable answer. The card may have been sent: the forward is audited either way.',
  (t) => ({
    reason: t.field({ type: ForwardFailureReason, resolve: (e) => e.reason }),
  }),
);
errorType(
  TooManyAttempts,
  'TooManyAttemptsError',
  'Refused as a possible enumeration of stored cards or bank accounts: this api key tokenized too many different numbers sharing a bin (a bank code) and last four, ' +
    'or hit too many different stored cards, within the window (VAULT_ENUMERATION_*). Nothing was stored or paid; the refusal is audited.',
);
