import { createHmac } from 'node:crypto';
import type { Secret } from './secret.js';

// Card fingerprints let equal cards be found without decrypting anything. A plain hash of a card number
// could be brute-forced from the database alone (with the BIN and last four stored in clear, only a few
// digits are unknown), so it is an HMAC under the merchant's fingerprint data key, which is stored only
// wrapped under a master key. Being per merchant and mode, the same card also gives unrelated fingerprints
// at different merchants, and in test and live mode (a test key cannot compute live fingerprints).

const DOMAIN = 'card-number/v1:';
const BANK_DOMAIN = 'bank-account/v1:';

/** base64url(HMAC-SHA256(key, 'card-number/v1:' + digits)). `card` must already be digits only. */
export function fingerprint(key: Buffer, card: Secret<string>): string {
  if (key.length !== 32) throw new RangeError(`Fingerprint keys must be 32 bytes, got ${key.length}`);
  const cardDigits = card.reveal();
  // Spaces or dashes would give the same card another fingerprint; normalising is the caller's job.
  if (!/^[0-9]+$/.test(cardDigits)) throw new Error('fingerprint() takes a card number of digits only');
  return createHmac('sha256', key)
    .update(DOMAIN + cardDigits, 'utf8')
    .digest('base64url');
}

const tag = (key: Buffer, text: string) => createHmac('sha256', key).update(text, 'utf8').digest().subarray(0, 16).toString('base64url');

/**
 * The enumeration counters' tags (src/domain/paymentMethods/enumeration.ts), under the same key as the fingerprint but in
 * their own domains: `group` names what is counted (say, an api key's bin and last four), `member` a card
 * number within that group only (the group is part of its input), so tags correlate with nothing else: not
 * with fingerprints, not across groups. 128 bits each: collisions are negligible at any count that matters.
 */
export function probeTags(key: Buffer, group: readonly string[], card: Secret<string>): { group: string; member: string } {
  if (key.length !== 32) throw new RangeError(`Fingerprint keys must be 32 bytes, got ${key.length}`);
  const cardDigits = card.reveal();
  // A card number's digits, or a bank account's normalised identity (bankAccountFingerprint's `account`).
  if (!/^[0-9A-Z:]+$/.test(cardDigits)) throw new Error('probeTags() takes a normalised card number or account');
  const g = tag(key, `card-probe-group/v1:${JSON.stringify(group)}`);
  return { group: g, member: tag(key, `card-probe-member/v1:${g}:${cardDigits}`) };
}

/**
 * base64url(HMAC-SHA256(key, 'bank-account/v1:' + scheme + ':' + account)): the fingerprint of a bank account
 * (its IBAN, or its bank code and account number), in its own domain, so a card and an account can never
 * share a fingerprint. `account` must already be normalised (no spaces, upper case).
 */
export function bankAccountFingerprint(key: Buffer, scheme: string, account: Secret<string>): string {
  if (key.length !== 32) throw new RangeError(`Fingerprint keys must be 32 bytes, got ${key.length}`);
  const value = account.reveal();
  if (!/^[A-Z]+$/.test(scheme) || !/^[0-9A-Z:]+$/.test(value)) throw new Error('bankAccountFingerprint() takes a normalised account');
  return createHmac('sha256', key).update(`${BANK_DOMAIN}${scheme}:${value}`, 'utf8').digest('base64url');
}
