import type { App } from '../app/app.js';
import { sweepCardTokens } from './cardTokens/cardTokens.js';
import { sweepCardProbes } from './paymentMethods/enumeration.js';
import { sweepIdempotencyKeys } from './idempotency/idempotency.js';
import { sweepAppliedEvents } from './paymentMethods/networkTokens.js';
import { purgeExpired } from './paymentMethods/paymentMethods.js';
import { releasePaymentKeys } from './payments/payments.js';
import { notifyExpiring } from './webhooks/expiring.js';

export interface SweepResult {
  purgedPaymentMethods: number;
  destroyedTokenSecrets: number;
  deletedTokens: number;
  deletedIdempotencyKeys: number;
  deletedCardProbes: number;
  deletedNetworkTokenEvents: number;
  /** payment_method.expiring events recorded (once per card and expiry). */
  expiringNotices: number;
}

/**
 * Everything time destroys: payment methods past retention, card-token secrets past use or expiry,
 * idempotency keys past their 24 hours, enumeration counters past their window, applied network-token
 * event ids past theirs. And the webhook payment_method.expiring of cards whose expiry month ends within 30 days.
 */
export async function sweep(app: App, now = app.clock()): Promise<SweepResult> {
  const purgedPaymentMethods = await purgeExpired(app, now);
  const tokens = await sweepCardTokens(app, now);
  // Payments made under an Idempotency-Key hold it as long as its record lives.
  await releasePaymentKeys(app, now);
  const deletedIdempotencyKeys = await sweepIdempotencyKeys(app, now);
  const deletedCardProbes = await sweepCardProbes(app, now);
  const deletedNetworkTokenEvents = await sweepAppliedEvents(app, now);
  const expiringNotices = await notifyExpiring(app, now);
  return {
    purgedPaymentMethods,
    destroyedTokenSecrets: tokens.destroyed,
    deletedTokens: tokens.deleted,
    deletedIdempotencyKeys,
    deletedCardProbes,
    deletedNetworkTokenEvents,
    expiringNotices,
  };
}
