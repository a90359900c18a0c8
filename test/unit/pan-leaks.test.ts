import { describe, expect, it } from 'vitest';
import { panLike, panLikeInDump } from '../helpers/scan.js';

describe('the end-of-run scan', () => {
  it('finds card numbers glued to letters, inside longer digit runs and split by unusual separators, not in hashes or UUIDs', () => {
    expect(panLike('path=/sandbox/challenge/pay_4242424242424242')).toEqual(['4242424242424242']);
    expect(panLike('x4242424242424242y')).toEqual(['4242424242424242']);
    expect(panLike('4242\u00a04242.4242/4242')).toEqual(['4242424242424242']);
    expect(panLike('"hash":"4242424242424242abcdef0123456789abcdef0123456789abcdef01234567"')).toEqual([]);
    expect(panLike('"requestId":"42424242-4242-4242-8242-424242424242"')).toEqual([]);
  });

  it('reads each value of a database dump on its own: a value ending in digits does not run into the next columns', () => {
    // A fingerprint ending in "61", then the BIN and the last four: CI once failed on such a row.
    const row = "INSERT INTO public.payment_methods VALUES ('mer_a', 'pm_b', 'v1.dk_x', 'Zq-fI161', '400005', '5556', 'VISA');";
    expect(panLike(row)).toEqual(['614000055556']);
    expect(panLikeInDump(row)).toEqual([]);
    // A number inside one value is still found, whatever its separators, and so is one beside a timestamp.
    expect(panLikeInDump("INSERT INTO notes VALUES ('card 4000 0566 5566 5556 exp 04/31', NULL);")).toEqual(['4000056655665556']);
    expect(panLikeInDump("VALUES ('it''s 4000-0566-5566-5556', '2026-11-30 10:30:06.964+00');")).toEqual(['4000056655665556']);
    expect(panLikeInDump('VALUES (\'2026-11-30 10:30:06.964+00\', \'{"n": "4000056655665556"}\');')).toEqual(['4000056655665556']);
  });

  it('reads a value as the free-text refusal does: metadata entries, list items and fields apart, not joined', () => {
    // Two metadata entries the vault accepts one by one, printed by jsonb as one value: CI once failed on such
    // a customer row (the hostile-input test's generated metadata).
    const row =
      'INSERT INTO public.customers VALUES (\'mer_a\', \'cus_b\', \'{"4": "0000566", "5": "5665556"}\', \'{"a": [400005, 6655665556]}\');';
    expect(panLike(row)).toEqual(['4000056655665556', '4000056655665556']);
    expect(panLikeInDump(row)).toEqual([]);
    // What the refusal refuses is still found: a number inside one entry, whatever its other separators.
    expect(panLikeInDump('VALUES (\'{"k": "4000 0566/5566.5556"}\');')).toEqual(['4000056655665556']);
    expect(panLikeInDump('VALUES (\'{"k": 4000056655665556}\');')).toEqual(['4000056655665556']);
  });
});
