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

  it('reads a JSON value string by string and number by number, and bare values apart', () => {
    // Two metadata entries the vault accepts one by one, printed by jsonb as one value: CI once failed on such
    // a customer row (the hostile-input test's generated metadata).
    const row =
      'INSERT INTO public.customers VALUES (\'mer_a\', \'cus_b\', \'{"4": "0000566", "5": "5665556"}\', \'{"a": [400005, 6655665556]}\');';
    expect(panLike(row)).toEqual(['4000056655665556', '4000056655665556']);
    expect(panLikeInDump(row)).toEqual([]);
    // Bare values (numbers, NULL) of neighbouring columns.
    const numbers = 'INSERT INTO public.t VALUES (40000, 566556, 65556, NULL);';
    expect(panLike(numbers)).toEqual(['4000056655665556']);
    expect(panLikeInDump(numbers)).toEqual([]);
    // A value spanning lines, a quote inside one, and the rows after it are read as values too.
    const rows =
      "INSERT INTO public.notes VALUES ('it''s\n4000 0566', '5566 5556');\nINSERT INTO public.notes VALUES ('a', 'x4000-0566-5566-5556');\n";
    expect(panLikeInDump(rows)).toEqual(['4000056655665556']);
  });

  it('finds a number inside one value or one JSON string, whatever separates its groups', () => {
    const values = (...v: string[]) => `INSERT INTO public.t VALUES (${v.map((x) => `'${x.replaceAll("'", "''")}'`).join(', ')});\n`;
    for (const written of ['4000,0566,5566,5556', '4000:0566;5566 5556', "it's 4000-0566-5566-5556"]) {
      expect(panLikeInDump(values('a', written)), written).toEqual(['4000056655665556']);
      expect(panLikeInDump(values(JSON.stringify({ k: written }))), written).toEqual(['4000056655665556']);
    }
    expect(panLikeInDump(values(JSON.stringify({ k: 4000056655665556 })))).toEqual(['4000056655665556']);
    expect(panLikeInDump(values(JSON.stringify({ '4000 0566 5566 5556': 1 })))).toEqual(['4000056655665556']);
    // Text that only looks like JSON is read whole.
    expect(panLikeInDump(values('{4000, 0566, 5566, 5556}'))).toEqual(['4000056655665556']);
    // A row that does not parse is read as text to its end, and the next row as values again.
    expect(
      panLikeInDump(`INSERT INTO public.t VALUES ('a', foo('4000 0566 5566 5556'));\n${values('x', 'INSERT INTO x VALUES (1);')}`),
    ).toEqual(['4000056655665556']);
    // Blank stretches do not make a failed match backtrack for long (a line of leakLines, cut mid-row): a
    // quadratic parse of this would outlast the test's timeout.
    expect(panLikeInDump(`INSERT INTO public.t VALUES (${' '.repeat(400_000)}x`)).toEqual([]);
    // The schema, outside any row.
    expect(panLikeInDump("COMMENT ON TABLE t IS '4000 0566 5566 5556';\n")).toEqual(['4000056655665556']);
  });
});
