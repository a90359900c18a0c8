import { luhnValid } from '../../src/card/number.js';

// Test card numbers, without vitest (the bench's scripts use them too).

/** Luhn check digit appended to a partial number: makes unique valid test cards. */
export function withLuhn(partial: string): string {
  const digit = [...'0123456789'].find((d) => luhnValid(partial + d));
  return partial + digit;
}

/** A Luhn-valid number: `prefix`, random digits, check digit, `length` digits in all. */
export function randomCardNumber(prefix: string, length = 16): string {
  let body = prefix;
  while (body.length < length - 1) body += String(Math.floor(Math.random() * 10));
  return withLuhn(body);
}
