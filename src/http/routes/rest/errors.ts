import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { z } from 'zod';
import { scrubText } from '../../../card/scrub.js';
import { isConnectionLoss } from '../../../db/connectionLoss.js';
import {
  Code,
  Forbidden,
  IdempotencyConflict,
  VaultError,
  ValidationFailed,
  type ErrorCode,
  type FieldError,
  type ValidationCode,
} from '../../../domain/shared/errors.js';
import { isBodyTooLarge } from '../../plugins/limits.js';

// The REST dialects' one error shape, `{"error": {"type", "code", "message"}}` (validation errors add the
// failing fields by their REST names), and the one table from the vault's errors to it. Seed 004's split:
// 400 for a malformed or incomplete request, 401 for a missing or bad key, 422 for a card that is invalid or
// expired; 403 for a key that may not do this, 404 for an absent id. Messages are the domain's, which never
// hold the input; nothing else unexpected is said beyond "Internal server error".

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'card_error'
  | 'bank_account_error'
  | 'idempotency_error'
  | 'rate_limit_error'
  | 'api_error';

export const errorBodySchema = z.strictObject({
  error: z.strictObject({
    type: z
      .string()
      .meta({ description: 'The class of failure: invalid_request_error, authentication_error, card_error, bank_account_error, …' }),
    code: z.string().meta({ description: 'What failed, in snake case (e.g. invalid_card_number, card_expired, not_found).' }),
    message: z.string().meta({ description: 'For people; never holds card or account data.' }),
    param: z.string().optional().meta({ description: 'The first failing field, by its name in the request body.' }),
    fields: z
      .array(z.strictObject({ param: z.string(), code: z.string(), message: z.string() }))
      .optional()
      .meta({ description: 'Every failing field of a validation error.' }),
  }),
});

export type ErrorBody = z.output<typeof errorBodySchema>;

/** A refusal or failure, answered as the error shape with its HTTP status. */
export class RestError extends Error {
  override name = 'RestError';
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    readonly extra: { headers?: Record<string, string>; fields?: { param: string; code: string; message: string }[] } = {},
  ) {
    super(message);
  }

  body(): ErrorBody {
    const [first] = this.extra.fields ?? [];
    return {
      error: {
        type: this.type,
        code: this.code,
        message: this.message,
        ...(first && { param: first.param, fields: this.extra.fields }),
      },
    };
  }
}

/** Field codes that say the card itself is unusable: 422 (seed 004), when nothing else in the request is wrong. */
const CARD_CODES: ReadonlySet<ValidationCode> = new Set(['INVALID_CARD_NUMBER', 'CARD_EXPIRED', 'INVALID_EXPIRY', 'INVALID_CVC']);
/** The same for a bank account: an IBAN, routing number, sort code, account number or BIC its scheme refuses. */
const BANK_CODES: ReadonlySet<ValidationCode> = new Set(['INVALID_BANK_ACCOUNT']);

const snake = (code: string) => code.toLowerCase();

/** A field path in the domain's input (`input.card.expMonth`) as the route's body names it. */
export type FieldNamer = (path: readonly string[]) => string;

/** Validation failures: 422 when every failing field is the card's (or every one the bank account's), 400 otherwise. */
export function validationError(fields: readonly FieldError[], name: FieldNamer): RestError {
  const named = fields.map((f) => ({ param: name(f.path), code: snake(f.code), message: f.message }));
  const all = (codes: ReadonlySet<ValidationCode>) => fields.every((f) => codes.has(f.code as ValidationCode));
  const type: ErrorType = all(CARD_CODES) ? 'card_error' : all(BANK_CODES) ? 'bank_account_error' : 'invalid_request_error';
  const [first] = named;
  const message = named.length === 1 && first ? `${first.param}: ${first.message}` : `${named.length} fields are invalid`;
  return new RestError(type === 'invalid_request_error' ? 400 : 422, type, first?.code ?? 'invalid_input', message, { fields: named });
}

const RESULT_STATUS: Partial<Record<ErrorCode, [number, ErrorType]>> = {
  NOT_FOUND: [404, 'not_found_error'],
  CONFLICT: [409, 'invalid_request_error'],
  RETENTION_LIMIT_EXCEEDED: [400, 'invalid_request_error'],
  TOKEN_EXPIRED: [422, 'card_error'],
  TOKEN_ALREADY_USED: [422, 'card_error'],
  CONNECTOR_UNAVAILABLE: [400, 'invalid_request_error'],
  TOKENIZATION_FAILED: [422, 'card_error'],
  TOO_MANY_ATTEMPTS: [429, 'rate_limit_error'],
};

const REQUEST_TYPE: Record<number, ErrorType> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  409: 'idempotency_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'api_error',
};

/** Anything a route threw, as the answer to give; unexpected faults are logged and answered 500. */
export function toRestError(err: unknown, name: FieldNamer, log: Logger): RestError {
  if (err instanceof RestError) return err;
  if (err instanceof ValidationFailed) return validationError(err.fields, name);
  if (err instanceof VaultError) {
    const [status, type] = RESULT_STATUS[err.code] ?? [400, 'invalid_request_error'];
    return new RestError(status, type, snake(err.code), err.message);
  }
  if (err instanceof Forbidden) return new RestError(403, 'permission_error', 'forbidden', err.message);
  if (err instanceof IdempotencyConflict) return new RestError(409, 'idempotency_error', 'idempotency_conflict', err.message);
  if (isBodyTooLarge(err)) return new RestError(413, 'invalid_request_error', 'request_entity_too_large', 'Request body too large');
  // The refusals shared with GraphQL (src/http/context.ts, the rate limiters): their status, code and headers.
  if (err instanceof GraphQLError) {
    const http = err.extensions.http as { status?: number; headers?: Record<string, string> } | undefined;
    const status = http?.status;
    if (status && REQUEST_TYPE[status]) {
      return new RestError(status, REQUEST_TYPE[status], snake(String(err.extensions.code ?? Code.BAD_REQUEST)), scrubText(err.message), {
        headers: http?.headers,
      });
    }
  }
  if (isConnectionLoss(err)) {
    log.warn({ err }, 'database connection lost during the request');
    return new RestError(
      503,
      'api_error',
      'service_unavailable',
      'The database connection was lost; the request may or may not have taken effect. Retry with the same Idempotency-Key',
      { headers: { 'retry-after': '1' } },
    );
  }
  log.error({ err }, 'unexpected error');
  return new RestError(500, 'api_error', 'internal_server_error', 'Internal server error');
}
