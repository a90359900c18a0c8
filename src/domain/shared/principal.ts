import type { ApiKeyKind, Mode } from '../../generated/prisma/client.js';

/** Who is calling: resolved from the api key alone, never from arguments. */
export interface Principal {
  merchantId: string;
  mode: Mode;
  keyId: string;
  kind: ApiKeyKind;
  allowReveal: boolean;
  /** The request acting (x-request-id), for the audit trail; absent outside HTTP requests. */
  requestId?: string;
}

/** Whose records: what every tenant-owned statement filters by (a Principal is one). */
export type Tenant = Pick<Principal, 'merchantId' | 'mode'>;

/** The filter every tenant-owned query carries. */
export function tenant(p: Tenant): { merchantId: string; mode: Mode } {
  return { merchantId: p.merchantId, mode: p.mode };
}
