import { createHmac, hkdfSync } from 'node:crypto';

// Values the vault must recognise again but never needs back (idempotency keys a client sent, the requests
// made with them): stored as an HMAC, never as a plain hash. A plain SHA-256 of a request that carries a card
// number can be brute-forced from the database alone (the BIN and last four are stored in clear), and a plain
// hash of a client's key lets anyone with the table test guesses. The HMAC key is derived (HKDF-SHA256, one
// `info` per use) from the merchant's fingerprint data key, which is stored only wrapped under a master key
// and is never rotated, so an HMAC made today is still recognised tomorrow. The derivation keeps the uses
// apart: no value of one use can be related to a card fingerprint or to another use.

export type DigestPurpose = 'idempotency-key' | 'idempotency-request';

/** hex(HMAC-SHA256(HKDF(merchantKey, info = 'vault/<purpose>/v1'), text)). */
export function keyedDigest(merchantKey: Buffer, purpose: DigestPurpose, text: string): string {
  if (merchantKey.length !== 32) throw new RangeError(`Merchant keys must be 32 bytes, got ${merchantKey.length}`);
  const key = Buffer.from(hkdfSync('sha256', merchantKey, Buffer.alloc(0), `vault/${purpose}/v1`, 32));
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}
