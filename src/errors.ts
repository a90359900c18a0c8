import { scrubText } from './app/logger.js';

// Domain errors. No GraphQL imports: the schema layer maps these classes onto the GraphQL error types, and
// anything else that escapes a resolver is masked as INTERNAL_SERVER_ERROR.

export type ErrorCode =
  | 'INVALID_INPUT'
  | 'INVALID_CARD_NUMBER'
  | 'CARD_EXPIRED'
  | 'INVALID_EXPIRY'
  | 'INVALID_CVC'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'RETENTION_LIMIT_EXCEEDED'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_ALREADY_USED'
  | 'IDEMPOTENCY_CONFLICT'
  | 'CONNECTOR_UNAVAILABLE'
  | 'TOKENIZATION_FAILED'
  | 'FORWARD_FAILED'
  | 'TOO_MANY_ATTEMPTS';

export interface FieldError {
  path: string[];
  code: ErrorCode;
  message: string;
}

/**
 * The key may not do this (reveal without the permission, forward to a host not on the list). Not a domain
 * result: the API answers it as a GraphQL error with extensions.code FORBIDDEN, like a publishable key
 * calling a secret-key operation.
 */
export class Forbidden extends Error {
  override name = 'Forbidden';
}

export abstract class VaultError extends Error {
  abstract readonly code: ErrorCode;
}

/** Lists every failing field; its own code is that of the first field. */
export class ValidationFailed extends VaultError {
  override name = 'ValidationFailed';
  readonly code: ErrorCode;
  constructor(readonly fields: FieldError[]) {
    const first = fields[0];
    super(fields.length === 1 && first ? first.message : `${fields.length} fields are invalid`);
    this.code = first?.code ?? 'INVALID_INPUT';
  }
  static single(path: string[], code: ErrorCode, message: string): ValidationFailed {
    return new ValidationFailed([{ path, code, message }]);
  }
}

export class NotFound extends VaultError {
  override name = 'NotFound';
  readonly code = 'NOT_FOUND' as const;
  constructor(readonly entity: string, readonly id: string) {
    // The id is the caller's: shortened, and masked if it is shaped like a card number (pasted by mistake).
    super(`No ${entity} with id ${scrubText(JSON.stringify(id.slice(0, 64)))}`);
  }
}

export class RetentionLimitExceeded extends VaultError {
  override name = 'RetentionLimitExceeded';
  readonly code = 'RETENTION_LIMIT_EXCEEDED' as const;
  constructor(readonly maxMonths: number, readonly remainingMonths: number) {
    super(
      `Retention can be extended by at most ${maxMonths} months in total; ${remainingMonths} month(s) remain`,
    );
  }
}

export class TokenExpired extends VaultError {
  override name = 'TokenExpired';
  readonly code = 'TOKEN_EXPIRED' as const;
  constructor(readonly tokenId: string) {
    super('This card token has expired (tokens are valid for 30 minutes)');
  }
}

export class TokenAlreadyUsed extends VaultError {
  override name = 'TokenAlreadyUsed';
  readonly code = 'TOKEN_ALREADY_USED' as const;
  constructor(readonly tokenId: string) {
    super('This card token has already been used (tokens are single use)');
  }
}

/** The operation does not fit the record's current state (e.g. capturing a payment that is not authorized). */
export class Conflict extends VaultError {
  override name = 'Conflict';
  readonly code = 'CONFLICT' as const;
}

export class IdempotencyConflict extends VaultError {
  override name = 'IdempotencyConflict';
  readonly code = 'IDEMPOTENCY_CONFLICT' as const;
}

/** No payment connector serves this request: an unknown connector id, or none configured for the key's mode. */
export class ConnectorUnavailable extends VaultError {
  override name = 'ConnectorUnavailable';
  readonly code = 'CONNECTOR_UNAVAILABLE' as const;
}

/** A connector or token service provider refused to issue a token for this card; nothing was stored. */
export class TokenizationFailed extends VaultError {
  override name = 'TokenizationFailed';
  readonly code = 'TOKENIZATION_FAILED' as const;
}

/**
 * The api key tokenized too many distinct card numbers that share a bin and last four, or hit too many
 * stored cards, within the enumeration window: what recovering a stored card's number looks like. Nothing
 * was stored or paid; the refusal is audited (`card.enumeration_suspected`).
 */
export class TooManyAttempts extends VaultError {
  override name = 'TooManyAttempts';
  readonly code = 'TOO_MANY_ATTEMPTS' as const;
  constructor(readonly signal: 'BIN_LAST4' | 'DUPLICATES') {
    super(
      signal === 'BIN_LAST4'
        ? 'Refused: this api key tokenized too many different card numbers with the same first six and last four digits recently (possible enumeration)'
        : 'Refused: this api key matched too many different stored cards recently (possible enumeration)',
    );
  }
}

/** forwardRequest reached no answer: the host could not be reached, timed out, or answered too much. */
export class ForwardFailed extends VaultError {
  override name = 'ForwardFailed';
  readonly code = 'FORWARD_FAILED' as const;
  constructor(
    message: string,
    readonly reason: 'UNREACHABLE' | 'TIMEOUT' | 'RESPONSE_TOO_LARGE' | 'TOO_MANY_REDIRECTS',
  ) {
    super(message);
  }
}
