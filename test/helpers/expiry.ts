// Card expiries relative to the day the suite runs. A test card with a fixed expiry makes its test fail once
// that month has passed (the seed card 02/27 would be refused as expired from March 2027 on); expected
// values derived from an expiry (retainUntil) are computed from it here, never written out as dates.

const THIS_YEAR = new Date().getUTCFullYear();

/** A four-digit expiry year `years` after this one (at least 1: then the card is valid all of this year). */
export function yearsAhead(years: number): number {
  if (years < 1) throw new Error('a test card must expire after this year');
  return THIS_YEAR + years;
}

/** The expiry year of test cards whose expiry does not matter. */
export const EXP_YEAR = yearsAhead(5);

/**
 * What the API prints as retainUntil for a card expiring `expMonth`/`expYear`: 00:00 UTC on the first day
 * of the 14th month after the expiry month, plus the merchant's extension (the rule of
 * src/domain/paymentMethods/retention.ts, restated here as the specification; test/unit/retention.test.ts pins examples).
 */
export function expectedRetainUntil(expMonth: number, expYear: number, extensionMonths = 0): string {
  return new Date(Date.UTC(expYear, expMonth - 1 + 14 + extensionMonths, 1)).toISOString().replace('.000Z', 'Z');
}
