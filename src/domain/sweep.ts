import { sweepCardTokens } from './cardTokens.js';
import { sweepCardProbes } from './enumeration.js';
import { sweepIdempotencyKeys } from './idempotency.js';
import { sweepAppliedEvents } from './networkTokens.js';
import { purgeExpired } from './paymentMethods.js';

export interface SweepResult {
  purgedPaymentMethods: number;
  destroyedTokenSecrets: number;
  deletedTokens: number;
  deletedIdempotencyKeys: number;
  deletedCardProbes: number;
  deletedNetworkTokenEvents: number;
}

/**
 * Everything time destroys: payment methods past retention, card-token secrets past use or expiry,
 * idempotency keys past their 24 hours, enumeration counters past their window, applied network-token
 * event ids past theirs.
 */
export async function sweep(now = new Date()): Promise<SweepResult> {
  const purgedPaymentMethods = await purgeExpired(now);
  const tokens = await sweepCardTokens(now);
  const deletedIdempotencyKeys = await sweepIdempotencyKeys(now);
  const deletedCardProbes = await sweepCardProbes(now);
  const deletedNetworkTokenEvents = await sweepAppliedEvents(now);
  return {
    purgedPaymentMethods,
    destroyedTokenSecrets: tokens.destroyed,
    deletedTokens: tokens.deleted,
    deletedIdempotencyKeys,
    deletedCardProbes,
    deletedNetworkTokenEvents,
  };
}
