// The boundary between the payment domain and payment service providers. Requests and results are plain
// data: a connector knows nothing of Prisma, GraphQL or tenancy, and the domain knows nothing of a PSP's
// wire format, so a real integration plugs in by implementing `Connector` and registering it.
//
// A connector throws when the PSP cannot be reached or answers something it does not understand: that is an
// operational fault (the payment keeps its state). A decline is not a fault: it is a FAILED result.

import type { Secret } from '../../crypto/secret.js';
import type { BankAccountType, BankScheme, CaptureMethod, PaymentInitiator, TokenizationType } from '../../generated/prisma/enums.js';

/**
 * The card as a connector receives it: opened for this one call and never kept by the connector layer. The
 * number and CVC are Secrets: a connector reveals them only into its wire request, so a request object that
 * reaches a log, an error or JSON shows `[REDACTED]`.
 */
interface ConnectorCard {
  number: Secret<string>;
  expMonth: number;
  /** Four digits. */
  expYear: number;
  /** Only while the customer is present (a card just entered, or a card token); never for a stored card. */
  cvc?: Secret<string>;
  holderName?: string;
}

/** A network token with the one-time cryptogram its token service provider generated for this payment. */
interface ConnectorNetworkToken {
  number: Secret<string>;
  expMonth: number;
  /** Four digits. */
  expYear: number;
  cryptogram: string;
  /** Electronic commerce indicator that goes with the cryptogram. */
  eci: string;
}

/**
 * A bank account as a connector receives it (a debit from it): the IBAN or account number is a Secret,
 * revealed only into the wire request. No CVC, no expiry, no authentication challenge.
 */
interface ConnectorBankAccount {
  scheme: BankScheme;
  /** The IBAN (SEPA) or the account number (ACH, BACS). */
  number: Secret<string>;
  /** The routing number (ACH), the sort code (BACS) or the IBAN's bank identifier (SEPA). */
  bankCode: string | null;
  country: string;
  bic: string | null;
  holderName: string | null;
  accountType: BankAccountType | null;
}

/**
 * What the connector charges: the card itself, a token this connector issued earlier (PSP token), or a
 * network token with a fresh cryptogram.
 */
export type PaymentSource =
  | { type: 'card'; card: ConnectorCard }
  | { type: 'psp_token'; token: string }
  | { type: 'network_token'; networkToken: ConnectorNetworkToken }
  | { type: 'bank_account'; bankAccount: ConnectorBankAccount };

export interface AuthorizeRequest {
  /** The vault's `pay_` id: the reference a PSP deduplicates retries on. */
  paymentId: string;
  /**
   * With the client's Idempotency-Key (as a stable opaque digest, the same for every retry within 24 hours):
   * the key a PSP that deduplicates authorizations (e.g. an `Idempotency-Key` header) must be sent, so that
   * a retry after the vault lost its database mid-payment (authorized, not yet stored) does not authorize
   * twice. The sandbox moves no money and keeps no state: it ignores it.
   */
  idempotencyKey?: string;
  /** In minor units of `currency`. */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
  captureMethod: CaptureMethod;
  initiator: PaymentInitiator;
  source: PaymentSource;
  /**
   * Where the customer's browser is sent back to the vault after an authentication challenge, and the
   * secret that authenticates that return (the vault keeps only its hash).
   */
  challenge: { baseUrl: string; secret: string };
}

export interface AuthorizeResult {
  status: 'COMPLETED' | 'AUTHORIZED' | 'REQUIRES_ACTION' | 'FAILED';
  /** The PSP's id for the payment. */
  reference: string | null;
  /** REQUIRES_ACTION: where to send the customer to authenticate. */
  redirectUrl?: string;
  /** FAILED: a short snake_case reason, e.g. `card_declined`, `account_closed`. */
  failureCode?: string;
  failureMessage?: string;
}

interface CaptureRequest {
  paymentId: string;
  reference: string | null;
  /** In minor units; at most the authorized amount. */
  amount: number;
  currency: string;
}

interface CaptureResult {
  status: 'COMPLETED';
}

interface CancelRequest {
  paymentId: string;
  reference: string | null;
}

interface CancelResult {
  status: 'CANCELLED';
}

export interface TokenizeRequest {
  /** The vault's `pm_` id: the reference the PSP keeps with its token. */
  paymentMethodId: string;
  card: ConnectorCard;
  tokenizationType: TokenizationType;
}

export interface TokenizeResult {
  token: string;
  tokenizationType: TokenizationType;
  /** The PSP's id for the tokenization request, if it gives one. */
  requestReferenceId: string | null;
}

/** A payment service provider. */
export interface Connector {
  readonly id: string;
  /** Whether `authorize` accepts network tokens with a cryptogram (`source.type === 'network_token'`). */
  readonly acceptsNetworkTokens: boolean;
  /** PSP tokenization: the PSP keeps the card and answers a token that pays through it. Optional. */
  tokenize?(request: TokenizeRequest): Promise<TokenizeResult>;
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult>;
  /** Captures an AUTHORIZED payment (fully or partly). */
  capture(request: CaptureRequest): Promise<CaptureResult>;
  /** Voids an authorization, or abandons a payment awaiting authentication. */
  cancel(request: CancelRequest): Promise<CancelResult>;
}
