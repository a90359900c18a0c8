import { sweepCardTokens } from './cardTokens.js';
import { purgeExpired } from './paymentMethods.js';

export interface SweepResult {
  purgedPaymentMethods: number;
  destroyedTokenSecrets: number;
  deletedTokens: number;
}

/** Everything time destroys: payment methods past retention, card-token secrets past use or expiry. */
export async function sweep(now = new Date()): Promise<SweepResult> {
  const purgedPaymentMethods = await purgeExpired(now);
  const tokens = await sweepCardTokens(now);
  return { purgedPaymentMethods, destroyedTokenSecrets: tokens.destroyed, deletedTokens: tokens.deleted };
}
