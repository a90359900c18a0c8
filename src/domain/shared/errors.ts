import { scrubText } from '../../card/scrub.js';

// The error vocabulary, declared once: every code a client can see, and the domain error classes. No GraphQL
// imports: the schema layer registers a GraphQL type per class (src/schema/errors.ts), and anything else that
// escapes a resolver is masked as INTERNAL_SERVER_ERROR.

/**
 * Every code a client can see, and where it appears:
 * - `field`: why one input field failed (`FieldError.code`), and the `code` of the `ValidationError` it is in;
 * - `result`: a domain failure returned as data (`code` of an `Error` type);
 * - `request`: `extensions.code` of a GraphQL error, the request (or one field) refused or failed as a whole.
 * `field` and `result` codes make the GraphQL `ErrorCode` enum. IDEMPOTENCY_CONFLICT is in that enum (the
 * contract has it) but is answered as a request error, by the Idempotency-Key check.
 */
const CODES = {
  INVALID_INPUT: 'field',
  INVALID_CARD_NUMBER: 'field',
  CARD_EXPIRED: 'field',
  INVALID_EXPIRY: 'field',
  INVALID_CVC: 'field',
  /** An IBAN, BIC, routing number, sort code or account number that its scheme refuses. */
  INVALID_BANK_ACCOUNT: 'field',
  NOT_FOUND: 'result',
  CONFLICT: 'result',
  RETENTION_LIMIT_EXCEEDED: 'result',
  TOKEN_EXPIRED: 'result',
  TOKEN_ALREADY_USED: 'result',
  IDEMPOTENCY_CONFLICT: 'result and request',
  CONNECTOR_UNAVAILABLE: 'result',
  TOKENIZATION_FAILED: 'result',
  FORWARD_FAILED: 'result',
  TOO_MANY_ATTEMPTS: 'result',
  UNAUTHENTICATED: 'request',
  FORBIDDEN: 'request',
  RATE_LIMITED: 'request',
  REQUEST_ENTITY_TOO_LARGE: 'request',
  BAD_REQUEST: 'request',
  BAD_USER_INPUT: 'request',
  IDEMPOTENCY_KEY_IN_USE: 'request',
  /** The database connection failed mid-request (a failover): the outcome is unknown, retry with the same Idempotency-Key. */
  SERVICE_UNAVAILABLE: 'request',
  /** This server runs trusted documents only (VAULT_TRUSTED_DOCUMENTS=require): send a documentId, not a query. */
  PERSISTED_DOCUMENT_REQUIRED: 'request',
  /** No trusted document has the documentId sent (nothing was executed). */
  PERSISTED_DOCUMENT_NOT_FOUND: 'request',
  GRAPHQL_PARSE_FAILED: 'request',
  GRAPHQL_VALIDATION_FAILED: 'request',
  INTERNAL_SERVER_ERROR: 'request',
} as const satisfies Record<string, 'field' | 'result' | 'request' | 'result and request'>;

type Codes = typeof CODES;
type CodesWhere<Where> = { [C in keyof Codes]: Codes[C] extends Where ? C : never }[keyof Codes];
/** Why one input field failed. */
export type ValidationCode = CodesWhere<'field'>;
/** A domain failure's code: the GraphQL `ErrorCode` enum. */
export type ErrorCode = CodesWhere<'field' | 'result' | 'result and request'>;
/** `extensions.code` of a GraphQL error. */
export type RequestCode = CodesWhere<'request' | 'result and request'>;

/** Every code by name, e.g. `Code.NOT_FOUND`. */
export const Code = Object.fromEntries(Object.keys(CODES).map((c) => [c, c])) as { readonly [C in keyof Codes]: C };

const codesWhere = <C extends keyof Codes>(...where: Codes[keyof Codes][]): C[] =>
  (Object.keys(CODES) as (keyof Codes)[]).filter((c) => where.includes(CODES[c])) as C[];
export const VALIDATION_CODES: readonly ValidationCode[] = codesWhere<ValidationCode>('field');
export const ERROR_CODES: readonly ErrorCode[] = codesWhere<ErrorCode>('field', 'result', 'result and request');

/** Why forwardRequest got no answer (`ForwardFailedError.reason`). */
export const FORWARD_FAILURE_REASONS = ['UNREACHABLE', 'TIMEOUT', 'RESPONSE_TOO_LARGE', 'TOO_MANY_REDIRECTS'] as const;

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

/**
 * The Idempotency-Key already stands for another request: answered as a request error with
 * IDEMPOTENCY_CONFLICT (409), like the conflict the Idempotency-Key check itself finds.
 */
export class IdempotencyConflict extends Error {
  override name = 'IdempotencyConflict';
  constructor() {
    super('Idempotency-Key was already used with a different operation, variables or api key');
  }
}

/** A domain failure, returned as data; named after its class (`NotFound`, …) in logs. */
export abstract class VaultError extends Error {
  abstract readonly code: ErrorCode;
  override name = this.constructor.name;
}

/** Lists every failing field; its own code is that of the first field. */
export class ValidationFailed extends VaultError {
  readonly code: ErrorCode;
  constructor(readonly fields: FieldError[]) {
    const first = fields[0];
    super(fields.length === 1 && first ? first.message : `${fields.length} fields are invalid`);
    this.code = first?.code ?? Code.INVALID_INPUT;
  }
  static single(path: string[], code: ErrorCode, message: string): ValidationFailed {
    return new ValidationFailed([{ path, code, message }]);
  }
}

const ID_SHAPE = /^[a-z]{1,8}_[0-9A-Za-z]{1,40}$/;

export class NotFound extends VaultError {
  readonly code = Code.NOT_FOUND;
  constructor(
    readonly entity: string,
    readonly id: string,
  ) {
    // The id is the caller's: repeated only when it is shaped like an id (a prefix, `_`, letters and digits;
    // never markup, quotes or a whole pasted record), and masked if it holds a card number (pasted by mistake).
    super(ID_SHAPE.test(id) ? `No ${entity} with id ${scrubText(JSON.stringify(id))}` : `No ${entity} with the id given`);
  }
}

export class RetentionLimitExceeded extends VaultError {
  readonly code = Code.RETENTION_LIMIT_EXCEEDED;
  constructor(
    readonly maxMonths: number,
    readonly remainingMonths: number,
  ) {
    super(`Retention can be extended by at most ${maxMonths} months in total; ${remainingMonths} month(s) remain`);
  }
}

export class TokenExpired extends VaultError {
  readonly code = Code.TOKEN_EXPIRED;
  constructor(readonly tokenId: string) {
    super('This card token has expired (tokens are valid for 30 minutes)');
  }
}

export class TokenAlreadyUsed extends VaultError {
  readonly code = Code.TOKEN_ALREADY_USED;
  constructor(readonly tokenId: string) {
    super('This card token has already been used (tokens are single use)');
  }
}

/** The operation does not fit the record's current state (e.g. capturing a payment that is not authorized). */
export class Conflict extends VaultError {
  readonly code = Code.CONFLICT;
}

/** No payment connector serves this request: an unknown connector id, or none configured for the key's mode. */
export class ConnectorUnavailable extends VaultError {
  readonly code = Code.CONNECTOR_UNAVAILABLE;
}

/** A connector or token service provider refused to issue a token for this card; nothing was stored. */
export class TokenizationFailed extends VaultError {
  readonly code = Code.TOKENIZATION_FAILED;
}

/**
 * The api key tokenized too many distinct card numbers that share a bin and last four, or hit too many
 * stored cards, within the enumeration window: what recovering a stored card's number looks like. Nothing
 * was stored or paid; the refusal is audited (`card.enumeration_suspected`).
 */
export class TooManyAttempts extends VaultError {
  readonly code = Code.TOO_MANY_ATTEMPTS;
  constructor(
    readonly signal: 'BIN_LAST4' | 'DUPLICATES',
    what: 'card' | 'bank account' = 'card',
  ) {
    super(
      signal === 'DUPLICATES'
        ? `Refused: this api key matched too many different stored ${what}s recently (possible enumeration)`
        : what === 'card'
          ? 'Refused: this api key tokenized too many different card numbers with the same first six and last four digits recently (possible enumeration)'
          : 'Refused: this api key tokenized too many different bank accounts with the same bank code and last four digits recently (possible enumeration)',
    );
  }
}

/** forwardRequest reached no answer: the host could not be reached, timed out, or answered too much. */
export class ForwardFailed extends VaultError {
  readonly code = Code.FORWARD_FAILED;
  constructor(
    message: string,
    readonly reason: (typeof FORWARD_FAILURE_REASONS)[number],
  ) {
    super(message);
  }
}
