// Card expiry rules. `now` is always a parameter so callers (and tests) control the clock; months are UTC.

const MIN_EXP_YEAR = 2000;
/** Issuers print expiries a few years out; anything beyond this is a typo, not a card. */
const MAX_EXP_YEARS_AHEAD = 50;

export interface ExpiryIssue {
  field: 'expMonth' | 'expYear';
  code: 'INVALID_EXPIRY' | 'CARD_EXPIRED';
  message: string;
}

/** Two-digit years (0-99) are 20yy, as printed on cards; anything else is taken as a full year. */
export function fullExpYear(year: number): number {
  return year >= 0 && year <= 99 ? 2000 + year : year;
}

/** A card is valid through the end of its expiry month. `year` is a full (four-digit) year. */
export function isExpired(month: number, year: number, now: Date): boolean {
  return year * 12 + month < now.getUTCFullYear() * 12 + now.getUTCMonth() + 1;
}

/**
 * Every problem with an expiry. Pass `undefined` for a part that is missing or already failed its type
 * check: the other part is still checked, and expiry is judged only when both parts are valid.
 * Month errors and CARD_EXPIRED go on `expMonth`, year errors on `expYear`.
 */
export function expiryIssues(month: number | undefined, year: number | undefined, now: Date): ExpiryIssue[] {
  const issues: ExpiryIssue[] = [];
  const monthOk = month !== undefined && Number.isInteger(month) && month >= 1 && month <= 12;
  if (month !== undefined && !monthOk) {
    issues.push({ field: 'expMonth', code: 'INVALID_EXPIRY', message: 'Expiry month must be between 1 and 12' });
  }
  const fullYear = year === undefined ? undefined : fullExpYear(year);
  const maxYear = now.getUTCFullYear() + MAX_EXP_YEARS_AHEAD;
  const yearOk = fullYear !== undefined && Number.isInteger(fullYear) && fullYear >= MIN_EXP_YEAR && fullYear <= maxYear;
  if (fullYear !== undefined && !yearOk) {
    issues.push({
      field: 'expYear',
      code: 'INVALID_EXPIRY',
      message: `Expiry year must be two digits or a year from ${MIN_EXP_YEAR} to ${maxYear}`,
    });
  }
  if (monthOk && yearOk && isExpired(month, fullYear, now)) {
    issues.push({ field: 'expMonth', code: 'CARD_EXPIRED', message: 'The card has expired' });
  }
  return issues;
}
