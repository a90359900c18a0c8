import { describe, expect, it } from 'vitest';
import {
  addMonths,
  MAX_RETENTION_EXTENSION_MONTHS,
  retainUntil,
  RETENTION_MONTHS_AFTER_EXPIRY,
} from '../../src/domain/paymentMethods/retention.js';
import { expectedRetainUntil } from '../helpers/expiry.js';

// Fixed dates are safe here: retainUntil is a pure function of the expiry, whatever today is.
describe('retainUntil', () => {
  it('keeps a card until the first day of the 14th month after its expiry month, 00:00 UTC (02/2027 until 2028-04-01)', () => {
    expect(RETENTION_MONTHS_AFTER_EXPIRY).toBe(14);
    expect(retainUntil(2, 2027).toISOString()).toBe('2028-04-01T00:00:00.000Z');
    expect(retainUntil(11, 2026).toISOString()).toBe('2028-01-01T00:00:00.000Z');
    expect(retainUntil(12, 2030).toISOString()).toBe('2032-02-01T00:00:00.000Z');
  });

  it('adds the extension in months, up to 24, across year ends', () => {
    expect(MAX_RETENTION_EXTENSION_MONTHS).toBe(24);
    expect(retainUntil(2, 2027, 6).toISOString()).toBe('2028-10-01T00:00:00.000Z');
    expect(retainUntil(5, 2028, 24).toISOString()).toBe('2031-07-01T00:00:00.000Z');
    expect(addMonths(new Date('2029-07-01T00:00:00Z'), 6).toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });

  it('agrees with the expectation the integration tests compute for cards relative to today', () => {
    for (const [month, year, ext] of [
      [2, 2027, 0],
      [5, 2028, 6],
      [9, 2032, 6],
      [12, 2099, 24],
    ] as const) {
      expect(expectedRetainUntil(month, year, ext)).toBe(retainUntil(month, year, ext).toISOString().replace('.000Z', 'Z'));
    }
  });
});
