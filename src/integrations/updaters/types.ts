// The boundary between the vault and the card networks' account updaters (Visa Account Updater, Mastercard
// Automatic Billing Updater, …), which say what became of a stored card: a new expiry, a new number, a
// closed account. Plain data, like connectors and token services: an updater knows nothing of Prisma,
// GraphQL or tenancy. Real updaters work in batches (a file of inquiries, a file of answers): so does this.

import type { Secret } from '../../crypto/secret.js';
import type { CardBrand } from '../../generated/prisma/enums.js';

export interface UpdaterInquiry {
  /** The vault's `pm_` id, the reference the answer comes back with. */
  paymentMethodId: string;
  card: { number: Secret<string>; expMonth: number; expYear: number; brand: CardBrand };
}

export type UpdaterAnswer =
  | { paymentMethodId: string; kind: 'NO_CHANGE' }
  | { paymentMethodId: string; kind: 'NEW_EXPIRY'; expMonth: number; expYear: number }
  | { paymentMethodId: string; kind: 'NEW_NUMBER'; number: Secret<string>; expMonth: number; expYear: number }
  | { paymentMethodId: string; kind: 'CLOSED' };

export interface AccountUpdater {
  readonly id: string;
  /** One answer per inquiry, in any order. Throws when the updater cannot be reached. */
  inquire(inquiries: readonly UpdaterInquiry[]): Promise<UpdaterAnswer[]>;
}
