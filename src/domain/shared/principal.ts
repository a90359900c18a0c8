import type { ApiKeyKind, Mode } from '../../generated/prisma/client.js';

/** Who is calling: resolved from the api key and the x-profile-id header checked against it, never from arguments. */
export interface Principal {
  merchantId: string;
  mode: Mode;
  keyId: string;
  kind: ApiKeyKind;
  allowReveal: boolean;
  /** The profile records created by this request belong to: the header's, the key's, or the merchant's default. */
  profileId: string;
  /**
   * The one profile reads and writes see (the header's, or the key's when it is restricted to one); absent:
   * every profile of the merchant.
   */
  profileScope?: string;
  /** The request acting (x-request-id), for the audit trail; absent outside HTTP requests. */
  requestId?: string;
}

/** Whose records: what every tenant-owned statement filters by (a Principal is one). */
export type Tenant = Pick<Principal, 'merchantId' | 'mode' | 'profileScope'>;

/**
 * The filter every tenant-owned query carries: merchant, mode, and the profile when the request is scoped to
 * one (a record of another profile then reads exactly as an absent one).
 */
export function tenant(p: Tenant): { merchantId: string; mode: Mode; profileId?: string } {
  return p.profileScope === undefined
    ? { merchantId: p.merchantId, mode: p.mode }
    : { merchantId: p.merchantId, mode: p.mode, profileId: p.profileScope };
}

/** Who a new record belongs to: the columns every tenant-owned insert writes. */
export function owner(p: Pick<Principal, 'merchantId' | 'mode' | 'profileId'>): { merchantId: string; mode: Mode; profileId: string } {
  return { merchantId: p.merchantId, mode: p.mode, profileId: p.profileId };
}

/**
 * The principal as a write sees the records it refers to: only those of the profile the new record goes in
 * (a payment method under a customer, a payment with a stored card or a card token, a duplicate): a record
 * of another profile reads as absent, so no record ever refers across profiles.
 */
export function writing<P extends Principal>(p: P): P {
  return p.profileScope === p.profileId ? p : { ...p, profileScope: p.profileId };
}

/**
 * Merchant and mode only, for the rows that belong to a payment method rather than to a profile (PSP and
 * network tokens): reached only through a payment method found in scope.
 */
export function merchantMode(p: Tenant): { merchantId: string; mode: Mode } {
  return { merchantId: p.merchantId, mode: p.mode };
}
