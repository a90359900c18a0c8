/**
 * Months a card is kept past its expiry month (a bank account past the month of its last payment, or of its
 * creation while it has none), and the most a merchant may extend that by.
 */
export const RETENTION_MONTHS_AFTER_EXPIRY = 14;
export const MAX_RETENTION_EXTENSION_MONTHS = 24;

/**
 * 00:00 UTC on the first day of (expiry month + 14 months + extension): card 02/2027 is kept until
 * 2028-04-01T00:00:00Z. Date.UTC normalises month overflow into the following years.
 */
export function retainUntil(expMonth: number, expYear: number, extensionMonths = 0): Date {
  return new Date(Date.UTC(expYear, expMonth - 1 + RETENTION_MONTHS_AFTER_EXPIRY + extensionMonths, 1));
}

/**
 * A bank account's retention: 00:00 UTC on the first day of the month 14 months (plus extension) after its
 * last payment, or after its creation while it has none: an account used on 2026-11-30 is kept until
 * 2028-01-01T00:00:00Z. Every payment with it moves this.
 */
export function bankAccountRetainUntil(lastUse: Date, extensionMonths = 0): Date {
  return new Date(Date.UTC(lastUse.getUTCFullYear(), lastUse.getUTCMonth() + RETENTION_MONTHS_AFTER_EXPIRY + extensionMonths, 1));
}

export function addMonths(date: Date, months: number): Date {
  return new Date(
    Date.UTC(
      date.getUTCFullYear(),
      date.getUTCMonth() + months,
      date.getUTCDate(),
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
      date.getUTCMilliseconds(),
    ),
  );
}
