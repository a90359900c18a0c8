import { describe, expect, it } from 'vitest';
import { panLike } from '../helpers/scan.js';

describe('the end-of-run scan', () => {
  it('finds card numbers glued to letters, inside longer digit runs and split by unusual separators, not in hashes or UUIDs', () => {
    expect(panLike('path=/sandbox/challenge/pay_4242424242424242')).toEqual(['4242424242424242']);
    expect(panLike('x4242424242424242y')).toEqual(['4242424242424242']);
    expect(panLike('4242\u00a04242.4242/4242')).toEqual(['4242424242424242']);
    expect(panLike('"hash":"4242424242424242abcdef0123456789abcdef0123456789abcdef01234567"')).toEqual([]);
    expect(panLike('"requestId":"42424242-4242-4242-8242-424242424242"')).toEqual([]);
  });
});
