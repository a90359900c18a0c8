import { sweepCardTokens } from './cardTokens.js';
import { sweepIdempotencyKeys } from './idempotency.js';
import { sweepAppliedEvents } from './networkTokens.js';
import { purgeExpired } from './paymentMethods.js';

export interface SweepResult {
  purgedPaymentMethods: number;
  destroyedTokenSecrets: number;
  deletedTokens: number;
  deletedIdempotencyKeys: number;
  deletedNetworkTokenEvents: number;
}

/**
 * Everything time destroys: payment methods past retention, card-token secrets past use or expiry,
 * idempotency keys past their 24 hours, applied network-token event ids past theirs.
 */
export async function sweep(now = new Date()): Promise<SweepResult> {
  const purgedPaymentMethods = await purgeExpired(now);
  const tokens = await sweepCardTokens(now);
  const deletedIdempotencyKeys = await sweepIdempotencyKeys(now);
  const deletedNetworkTokenEvents = await sweepAppliedEvents(now);
  return { purgedPaymentMethods, destroyedTokenSecrets: tokens.destroyed, deletedTokens: tokens.deleted, deletedIdempotencyKeys, deletedNetworkTokenEvents };
}
