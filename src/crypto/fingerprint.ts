import { createHmac } from 'node:crypto';

// Card fingerprints let equal cards be found without decrypting anything. A plain hash of a card number
// could be brute-forced from the database alone (with the BIN and last four stored in clear, only a few
// digits are unknown), so it is an HMAC under the merchant's fingerprint data key, which is stored only
// wrapped under a master key. Being per merchant, the same card also gives unrelated fingerprints at
// different merchants.

const DOMAIN = 'card-number/v1:';

/** base64url(HMAC-SHA256(key, 'card-number/v1:' + digits)). `cardDigits` must already be digits only. */
export function fingerprint(key: Buffer, cardDigits: string): string {
  if (key.length !== 32) throw new RangeError(`Fingerprint keys must be 32 bytes, got ${key.length}`);
  // Spaces or dashes would give the same card another fingerprint; normalising is the caller's job.
  if (!/^[0-9]+$/.test(cardDigits)) throw new Error('fingerprint() takes a card number of digits only');
  return createHmac('sha256', key).update(DOMAIN + cardDigits, 'utf8').digest('base64url');
}
