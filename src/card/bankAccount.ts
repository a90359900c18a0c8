import {
  electronicFormatIBAN,
  extractIBAN,
  getCountrySpecifications,
  isSEPACountry,
  isValidBIC,
  validateIBAN,
  ValidationErrorsIBAN,
} from 'ibantools';

// Bank account rules with one home, beside the card's (src/card/ holds the rules of payment instrument
// data): the checks of each scheme's account identifiers, and the one IBAN detector. IBANs and BICs are
// checked by `ibantools` (ISO 13616 mod-97, each country's length and format, national check digits where a
// country has them). Messages say what failed, never the value.

export type Check<T> = { ok: true; value: T } | { ok: false; message: string };

const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });

/** Separators people type between groups; nothing else is tolerated. */
const spaced = (raw: string, separators: RegExp) => raw.trim().replace(separators, '');

export interface IbanParts {
  /** Electronic format: upper case, no spaces. */
  iban: string;
  country: string;
  /** The bank identifier the country's IBAN format holds, if it has one. */
  bankCode: string | null;
}

/** An IBAN typed with optional spaces: its check digits (mod-97), its country's length and format. */
export function checkIban(raw: string): Check<IbanParts> {
  if (!/^[A-Za-z0-9 ]+$/.test(raw.trim())) return fail('An IBAN has only letters and digits (spaces allowed)');
  const iban = (electronicFormatIBAN(spaced(raw, / +/g)) ?? '').toUpperCase();
  const country = iban.slice(0, 2);
  const spec = getCountrySpecifications()[country];
  if (!/^[A-Z]{2}[0-9]{2}/.test(iban) || !spec?.chars)
    return fail('Must start with the two letters of an IBAN country and two check digits');
  if (!isSEPACountry(country)) return fail('SEPA takes IBANs of SEPA countries only');
  if (iban.length !== spec.chars) return fail(`Must have ${spec.chars} characters for an IBAN of ${country}`);
  const { errorCodes } = validateIBAN(iban, { allowQRIBAN: true });
  if (errorCodes.includes(ValidationErrorsIBAN.WrongBBANFormat)) return fail(`Does not have the format of an IBAN of ${country}`);
  if (errorCodes.includes(ValidationErrorsIBAN.WrongIBANChecksum) || errorCodes.includes(ValidationErrorsIBAN.ChecksumNotNumber)) {
    return fail('The IBAN check digits do not match (ISO 13616 mod-97)');
  }
  if (errorCodes.includes(ValidationErrorsIBAN.WrongAccountBankBranchChecksum))
    return fail(`The national check digits of this ${country} IBAN do not match`);
  if (errorCodes.length > 0) return fail('Is not a valid IBAN');
  return { ok: true, value: { iban, country, bankCode: extractIBAN(iban).bankIdentifier ?? null } };
}

/**
 * The account number an IBAN holds, as a PSP may write it on its own or in another order than the IBAN's
 * (`kto 0532013000 blz 37040044`, `account 31926819, sort code 60-16-13`): the BBAN after its bank and branch
 * identifiers, the account number ibantools names when it lies within that, and each without its leading
 * zeros. ibantools' own account positions are wrong for several countries (FI, PL, BE, LV, RO, IT), so they are
 * only taken inside the part after the identifiers; countries whose identifiers it does not know give none
 * (their whole BBAN is masked all the same).
 */
export function ibanAccountNumbers(iban: string): string[] {
  const { bban, accountNumber, bankIdentifier = '', branchIdentifier = '' } = extractIBAN(iban.replace(/\s+/g, '').toUpperCase());
  const prefix = bankIdentifier + branchIdentifier;
  if (!bban || prefix === '' || !bban.startsWith(prefix)) return [];
  const account = bban.slice(prefix.length);
  const found = new Set([account]);
  if (accountNumber && accountNumber !== account && account.includes(accountNumber)) found.add(accountNumber);
  for (const a of [...found]) {
    const significant = a.replace(/^0+/, '');
    if (/^\d+$/.test(a) && significant.length >= 6) found.add(significant);
  }
  return [...found].filter((a) => a.length >= 6);
}

/** A BIC (SWIFT code) of 8 or 11 characters, upper-cased. */
export function checkBic(raw: string): Check<string> {
  const bic = raw.trim().toUpperCase();
  if (bic.length !== 8 && bic.length !== 11) return fail('A BIC has 8 or 11 characters');
  return isValidBIC(bic) ? { ok: true, value: bic } : fail('Is not a valid BIC');
}

/** The ABA checksum of a US routing number: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10). */
export function abaChecksumValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  const d = [...digits].map(Number);
  const sum = 3 * (d[0]! + d[3]! + d[6]!) + 7 * (d[1]! + d[4]! + d[7]!) + (d[2]! + d[5]! + d[8]!);
  return sum % 10 === 0;
}

/** A 9-digit ACH routing number with a valid ABA checksum. */
export function checkRoutingNumber(raw: string): Check<string> {
  const digits = raw.trim();
  if (!/^\d{9}$/.test(digits)) return fail('A routing number has 9 digits');
  return abaChecksumValid(digits) ? { ok: true, value: digits } : fail('The routing number fails the ABA checksum');
}

/** An ACH account number: 4 to 17 digits. */
export function checkAchAccountNumber(raw: string): Check<string> {
  const digits = raw.trim();
  return /^\d{4,17}$/.test(digits) ? { ok: true, value: digits } : fail('An ACH account number has 4 to 17 digits');
}

/** A UK sort code: 6 digits, dashes (or spaces) allowed between the pairs. */
export function checkSortCode(raw: string): Check<string> {
  const trimmed = raw.trim();
  if (!/^\d{2}([- ]?)\d{2}\1\d{2}$/.test(trimmed)) return fail('A sort code has 6 digits (dashes allowed, e.g. 12-34-56)');
  return { ok: true, value: trimmed.replace(/[- ]/g, '') };
}

/** A BACS account number: 8 digits. */
export function checkBacsAccountNumber(raw: string): Check<string> {
  const digits = raw.trim();
  return /^\d{8}$/.test(digits) ? { ok: true, value: digits } : fail('A BACS account number has 8 digits');
}

/**
 * What identifies an account within its scheme, normalised: the IBAN, or the bank code and the account number
 * (an account number is unique only within its bank). The fingerprint covers this and the scheme.
 */
export function accountIdentity(scheme: 'SEPA' | 'ACH' | 'BACS', number: string, bankCode: string | null): string {
  return scheme === 'SEPA' ? number : `${bankCode ?? ''}:${number}`;
}

// ---------------------------------------------------------------------------------------------------------
// The one IBAN detector: for logs (src/app/logger.ts masks what it finds) and the tests' hygiene scans.

/** Two letters, two digits and 11-30 letters or digits, single spaces allowed between them. */
const IBAN_CANDIDATE = /(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])/g;
const IBAN_HINT = /[A-Za-z]{2}[0-9]{2} ?[A-Za-z0-9]/;

interface IbanSpan {
  start: number;
  end: number;
  iban: string;
}

/**
 * Every valid IBAN in the text (its country's length and format, and the mod-97 check), whole or in groups
 * separated by single spaces, and followed by anything: the candidate is cut at its country's length.
 */
export function ibanSpans(text: string): IbanSpan[] {
  if (!IBAN_HINT.test(text)) return [];
  const spans: IbanSpan[] = [];
  for (const m of text.matchAll(IBAN_CANDIDATE)) {
    const candidate = m[0].toUpperCase();
    const length = getCountrySpecifications()[candidate.slice(0, 2)]?.chars;
    if (!length) continue;
    let end = 0;
    let count = 0;
    while (end < candidate.length && count < length) {
      if (candidate[end] !== ' ') count++;
      end++;
    }
    // Whole, or followed by a space (other words): never the start of a longer run of letters and digits.
    const whole = end === candidate.length || candidate[end] === ' ';
    const iban = candidate.slice(0, end).replace(/ /g, '');
    if (count === length && whole && validateIBAN(iban, { allowQRIBAN: true }).valid) {
      spans.push({ start: m.index, end: m.index + end, iban });
    }
  }
  return spans;
}

/** Whether the text holds a valid IBAN. */
export function containsIban(text: string): boolean {
  return ibanSpans(text).length > 0;
}

/**
 * An IBAN as it may be shown: its country, then `*` for every character but the last four (`DE**…3000`, as
 * long as its country's IBANs). Built from what is kept in the clear (country and last four), never the IBAN.
 */
export function maskedIban(country: string, last4: string): string {
  const length = getCountrySpecifications()[country]?.chars ?? country.length + 2 + last4.length;
  return `${country}${'*'.repeat(Math.max(length - country.length - last4.length, 2))}${last4}`;
}

/** The text with every IBAN masked to its country and last four (`DE**…3000`). */
export function maskIbans(text: string): string {
  const spans = ibanSpans(text);
  if (spans.length === 0) return text;
  let out = '';
  let at = 0;
  for (const { start, end, iban } of spans) {
    out += `${text.slice(at, start)}${maskedIban(iban.slice(0, 2), iban.slice(-4))}`;
    at = end;
  }
  return out + text.slice(at);
}
