// The boundary between the vault and token service providers (TSPs: Visa Token Service, Mastercard MDES, …),
// which issue network tokens for cards and the one-time cryptograms that go with each payment. Plain data,
// like the connector interface: a TSP knows nothing of Prisma, GraphQL or tenancy.
//
// A TSP throws when it cannot be reached (an operational fault) and throws `TokenizationFailed` when it
// refuses a card (e.g. a network that offers no tokens).

import type { Secret } from '../../crypto/secret.js';
import type { CardBrand } from '../../generated/prisma/enums.js';

// Card and token numbers cross this boundary as Secrets; a TSP reveals them only into its wire request.

export interface ProvisionRequest {
  /** The vault's `pm_` id, kept by the TSP with its token. */
  paymentMethodId: string;
  card: { number: Secret<string>; expMonth: number; expYear: number; brand: CardBrand };
}

export interface ProvisionedToken {
  /** The TSP's reference for the token; lifecycle events name it. */
  tokenReferenceId: string;
  number: Secret<string>;
  last4: string;
  expMonth: number;
  /** Four digits. */
  expYear: number;
}

export interface CryptogramRequest {
  tokenReferenceId: string;
  number: Secret<string>;
  /** In minor units of `currency`. */
  amount: number;
  currency: string;
}

export interface Cryptogram {
  cryptogram: string;
  /** Electronic commerce indicator. */
  eci: string;
}

/** A lifecycle change the TSP pushes to the vault's webhook endpoint. */
export type LifecycleEventType = 'token.suspended' | 'token.resumed' | 'token.deleted' | 'token.updated';

export interface LifecycleEvent {
  id: string;
  type: LifecycleEventType;
  tokenReferenceId: string;
  /** ISO 8601; events older than the last applied one are ignored. */
  occurredAt: string;
  /** token.updated: the token's new expiry (and last4 when the number changed). */
  expMonth?: number;
  expYear?: number;
  last4?: string;
}

type WebhookCheck = { ok: true; event: LifecycleEvent } | { ok: false; problem: 'signature' | 'body' };

export interface TokenServiceProvider {
  readonly id: string;
  provision(request: ProvisionRequest): Promise<ProvisionedToken>;
  /** A fresh cryptogram for one payment with the token. */
  cryptogram(request: CryptogramRequest): Promise<Cryptogram>;
  /** Checks a webhook delivery's signature, then reads its event. */
  verifyWebhook(body: string, headers: Headers, now?: Date): WebhookCheck;
}
