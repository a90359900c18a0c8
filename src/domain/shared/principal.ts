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

/** The filter every tenant-owned query carries. */
export function tenant(p: Pick<Principal, 'merchantId' | 'mode'>): { merchantId: string; mode: Mode } {
  return { merchantId: p.merchantId, mode: p.mode };
}
