import { randomBytesPooled } from '../../crypto/random.js';
import { containsPan } from '../../card/pan.js';
import { containsIban } from '../../card/bankAccount.js';

export type IdPrefix = 'mer' | 'pro' | 'key' | 'dk' | 'cus' | 'pm' | 'tok' | 'pay' | 'pspt' | 'ntk' | 'aud' | 'evt' | 'we' | 'wha';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `<prefix>_` + 128 random bits in base62 (22 characters). Never derived from card data. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${base62(randomBytesPooled(16), 22)}`;
}

/** Base62 of the bytes, left-padded to `length` characters. */
export function base62(bytes: Uint8Array, length: number): string {
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(length, '0');
}

const ID_BODY = /^[0-9A-Za-z]{22}$/;

/**
 * Whether a caller's string is shaped like an id of this type (`<prefix>_` + 22 base62 characters) and holds
 * no card number. Checked before an id is audited, logged or looked up: anything else (a card number pasted
 * into an id argument, say) matches no record and is answered NOT_FOUND without being written anywhere.
 */
export function isWellFormedId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && ID_BODY.test(value.slice(prefix.length + 1)) && !containsPan(value) && !containsIban(value);
}
