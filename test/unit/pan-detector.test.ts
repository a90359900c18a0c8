import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containsCardNumber, containsPan, findPans, forEachDigitSequence, maskPans, normalizePanText } from '../../src/card/pan.js';
import { maskCardData } from '../../src/card/mask.js';
import { scrubLine } from '../../src/app/logger.js';
import { scrubText } from '../../src/card/scrub.js';
import { brandLengths, detectBrand, luhnValid } from '../../src/card/number.js';

/** What the detector calls a card number: Luhn-valid, or a UnionPay number (UnionPay issues some that fail Luhn). */
const isCardWindow = (w: string) => luhnValid(w) || (detectBrand(w) === 'UNIONPAY' && brandLengths('UNIONPAY').includes(w.length));

// The PAN detector (src/card/pan.ts) and the forwarding masker, tried on the input spaces that are the
// attacks: card numbers hidden among letters, digits and unusual separators, and replies built to be slow.

const SEPARATORS = [
  ...[' ', '  ', '   ', '.', '\u00a0', '\t', '/', '_', '\u2013', '-', ' - ', '\u3000'],
  // Line breaks, punctuation and symbols, format characters (zero-width space, word joiner, soft hyphen),
  // NUL, a combining mark, and runs of up to 8.
  ...['\n', '\r\n', '+', ',', ', ', ':', '|', '*', '\u2022', ') (', '\u200b', '\u2060', '\u00ad', '\0', '\u0332', '#'],
  ...['    ', '____', ' -- \n', '\\n', '%20', '%E2%80%8B', '\\u200b', '........'],
];
/** The first digit (zero) of decimal digit blocks NFKC leaves alone, and some it folds. */
const DIGIT_ZEROS = [0xff10, 0x660, 0x6f0, 0x966, 0x9e6, 0xe50, 0x1040, 0x1d7ce, 0x1d7ec, 0x1e950];
/** The digit as written in the script whose zero is `zero`. */
const inScript = (d: string, zero: number) => String.fromCodePoint(zero + Number(d));

function withCheckDigit(partial: string): string {
  return partial + [...'0123456789'].find((d) => luhnValid(partial + d))!;
}

/** Any Luhn-valid number of 12-19 digits. */
const luhnNumber = fc
  .integer({ min: 12, max: 19 })
  .chain((len) => fc.array(fc.constantFrom(...'0123456789'), { minLength: len - 1, maxLength: len - 1 }))
  .map((digits) => withCheckDigit(digits.join('')));

/** One in a card brand's range and length (what tokenizeCard takes), for the card-range callers. */
const cardNumber = fc
  .tuple(fc.constantFrom('4', '51', '55', '2221', '34', '37', '6011', '65', '3528', '62'), fc.integer({ min: 0, max: 3 }))
  .chain(([prefix]) => {
    const len = prefix === '34' || prefix === '37' ? 15 : 16;
    return fc
      .array(fc.constantFrom(...'0123456789'), { minLength: len - 1 - prefix.length, maxLength: len - 1 - prefix.length })
      .map((d) => withCheckDigit(prefix + d.join('')));
  });

/** What ends a number in free text (and only there): field and time delimiters. */
const FREE_TEXT_BREAKS = /[:,;]/;

/** The number written with random separators (from the list) and some digits in other scripts. */
const written = (number: string, separators: readonly string[] = SEPARATORS) =>
  fc
    .tuple(
      fc.array(fc.oneof(fc.constant(''), fc.constantFrom(...separators)), { minLength: number.length - 1, maxLength: number.length - 1 }),
      fc.array(fc.oneof(fc.constant(0x30), fc.constantFrom(...DIGIT_ZEROS)), { minLength: number.length, maxLength: number.length }),
    )
    .map(([seps, zeros]) => [...number].map((d, i) => inScript(d, zeros[i]!) + (seps[i] ?? '')).join(''));

/** Text around it: letters, underscores, digits, punctuation, JSON, line breaks. */
const surrounding = fc.string({ unit: fc.constantFrom(...'abcxyzXY_-:"{}=/ .,\n\t0123456789é€'), maxLength: 30 });

const embedded = (numbers: fc.Arbitrary<string>, separators: readonly string[] = SEPARATORS) =>
  numbers.chain((number) =>
    fc
      .tuple(fc.constant(number), surrounding, written(number, separators), surrounding)
      .map(([n, before, w, after]) => ({ number: n, text: before + w + after })),
  );

/** Whether any 12 consecutive digits of the number survive in the text (separators and fullwidth folded). */
function leaves12(text: string, number: string): boolean {
  let found = false;
  forEachDigitSequence(text, 12, ({ digits }) => {
    for (let i = 0; i + 12 <= number.length; i++) if (digits.includes(number.slice(i, i + 12))) found = true;
  });
  return found;
}

describe('the PAN detector', () => {
  it('finds and masks any Luhn-valid 12-19 digit number, whatever surrounds it and separates its digits', () => {
    fc.assert(
      fc.property(embedded(luhnNumber), ({ number, text }) => {
        expect(findPans(text).map((m) => m.digits)).toContain(number);
        expect(containsPan(text)).toBe(true);
        expect(leaves12(maskPans(text), number)).toBe(false);
        // The logger's scrub and a whole log line, too.
        expect(leaves12(scrubText(text), number)).toBe(false);
        expect(leaves12(scrubLine(`${JSON.stringify({ msg: text })}\n`), number)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses card-range numbers in free text and masks them in forwarded answers, however written', () => {
    fc.assert(
      fc.property(
        embedded(
          cardNumber,
          SEPARATORS.filter((sep) => !FREE_TEXT_BREAKS.test(sep)),
        ),
        ({ number, text }) => {
          expect(containsCardNumber(text)).toBe(true);
          expect(leaves12(maskCardData(text), number)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('leaves digit runs alone when no 12-19 digit window of them is a card number', () => {
    const noLuhnWindow = (digits: string) => {
      for (let i = 0; i < digits.length; i++)
        for (let len = 12; len <= 19 && i + len <= digits.length; len++) if (isCardWindow(digits.slice(i, i + len))) return false;
      return true;
    };
    const run = fc
      .array(fc.constantFrom(...'0123456789'), { minLength: 12, maxLength: 24 })
      .map((d) => d.join(''))
      .filter(noLuhnWindow);
    const letters = fc.string({ unit: fc.constantFrom(...'abc_-: .\n'), maxLength: 10 });
    fc.assert(
      fc.property(run, letters, letters, (digits, before, after) => {
        const text = `${before}${digits}${after}`;
        expect(findPans(text)).toEqual([]);
        expect(maskPans(text)).toBe(text);
        expect(maskCardData(text)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with a brute-force reading of every window', () => {
    // ASCII digits, separators and letters, where the sequences are what a regex says they are: digits with
    // up to 8 characters that are neither letters nor digits between neighbours.
    const text = fc.string({
      unit: fc.oneof(fc.constantFrom(...'0123456789'), fc.constantFrom(...'0123456789 ._-/x,:\n+|*()"[]{}Ab'), fc.constant('    ')),
      maxLength: 60,
    });
    fc.assert(
      fc.property(text, (t) => {
        const expected: string[] = [];
        for (const m of t.matchAll(/\d(?:[^0-9A-Za-z]{0,8}\d)*/g)) {
          const starts = [...m[0].matchAll(/\d/g)].map((d) => m.index + d.index);
          const digits = m[0].replace(/\D/g, '');
          for (let last = 0; last < digits.length; last++) {
            for (let len = 12; len <= 19 && len <= last + 1; len++) {
              const first = last - len + 1;
              if (isCardWindow(digits.slice(first, last + 1)))
                expected.push(`${starts[first]}-${starts[last]! + 1}:${digits.slice(first, last + 1)}`);
            }
          }
        }
        expect(findPans(t).map((p) => `${p.start}-${p.end}:${p.digits}`)).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('names the examples from the report', () => {
    for (const text of [
      'pay_4242424242424242',
      'x4242424242424242y',
      '99424242424242424299',
      '4242  4242..4242\u00a04242',
      '４２４２４２４２４２４２４２４２',
      '4242–4242–4242–4242',
    ]) {
      expect(containsCardNumber(text), text).toBe(true);
      expect(maskPans(text), text).not.toMatch(/(?:\d\D{0,3}){12}/);
    }
    expect(normalizePanText('４２４２\u00a0–\t4242')).toBe('4242 4242');
    // Numbers that letters keep apart are not read as one (a phone number and a date with only punctuation
    // between them would be: separators of any kind join digit groups).
    expect(containsCardNumber('order 12345, phone +49 30 1234567, on 2026-11-30T04:00:00.000Z')).toBe(false);
    expect(detectBrand('4242424242424242')).toBe('VISA');
  });
});

describe('digit groups split by any non-letter, and digits of any script (review F2)', () => {
  const number = '4111111111111111';
  const groups = (sep: string) => number.match(/\d{4}/g)!.join(sep);

  it('takes ordinary data in free text: timestamps, times and lists are not read as one long number', () => {
    for (const text of [
      'created 2026-11-30 10:30:06.964417+00',
      'at 2026-11-30 10:30:06.964+00:00, by ops',
      '+1 (555) 123-4567, 2026-11-30',
      'ids 601139, 4190924, 143; next',
    ]) {
      expect(containsCardNumber(text), text).toBe(false);
    }
    // The same delimiters between a number's groups: not refused in free text, but masked wherever logged.
    expect(containsCardNumber('4111:1111:1111:1111')).toBe(false);
    expect(scrubText('4111:1111:1111:1111')).not.toMatch(/4111:1111/);
  });

  it('finds the number whatever separates its groups, up to 8 characters', () => {
    for (const text of [
      groups('\n'),
      groups('\r\n'),
      groups('+'),
      groups(','),
      groups(':'),
      groups('|'),
      groups('*'),
      groups('\u2022'),
      `(${groups(') (')})`,
      groups('\u200b'),
      groups('\u2060'),
      groups('\u00ad'),
      groups('    '),
      groups('____'),
      groups('\t\t\t\t\t\t\t\t'),
      groups('%0A'),
      groups('%E2%80%8B'),
      groups('\\r\\n'),
      `[${[...number].join(',')}]`,
      `[${[...number].join(', ')}]`,
    ]) {
      // Free text takes `:`, `,` and `;` as field and time delimiters (see below); everything else refuses.
      expect(containsCardNumber(text), JSON.stringify(text)).toBe(!FREE_TEXT_BREAKS.test(text));
      expect(maskPans(`x ${text} y`).replace(/[^0-9]/g, ''), JSON.stringify(text)).toBe('1111');
    }
    expect(containsPan(groups('_'.repeat(9)))).toBe(false);
  });

  it('reads the decimal digits of every script with their values', () => {
    for (const text of ['٤١١١١١١١١١١١١١١١', '४१११ ११११ ११११ ११११', '৪১১১-১১১১-১১১১-১১১১', '۴۱۱۱۱۱۱۱۱۱۱۱۱۱۱۱', '４111 ١١١١ ११११ 𝟏𝟏𝟏𝟏']) {
      expect(containsCardNumber(text), text).toBe(true);
      expect(findPans(text).map((p) => p.digits)).toContain(number);
    }
    // Every \p{Nd} block of Unicode: ten consecutive code points from its zero.
    const zeros: number[] = [];
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (/\p{Nd}/u.test(String.fromCodePoint(cp)) && !/\p{Nd}/u.test(String.fromCodePoint(cp - 1))) {
        for (let z = cp; /\p{Nd}/u.test(String.fromCodePoint(z)); z += 10) zeros.push(z);
      }
    }
    expect(zeros.length).toBeGreaterThan(60);
    for (const zero of zeros) {
      const text = [...'4242424242424242'].map((d) => inScript(d, zero)).join('');
      expect(
        findPans(text).map((p) => p.digits),
        zero.toString(16),
      ).toContain('4242424242424242');
    }
  });

  it('keeps letters as breaks: JSON, ids and timestamps of everyday free text stay accepted', () => {
    for (const text of [
      '{"a":1,"b":2}',
      '{"order":4111,"line":1111,"qty":1111,"sku":1111}',
      'ch_3N7k 4111 pi_1111 ref 1111 x 1111',
      '2026-11-30T04:00:00.000Z 2026-11-30T04:00:00.000Z',
      'Invoice 12345 (due 2026-12-01), 3 items, total 1,234.56 EUR',
    ]) {
      expect(containsCardNumber(text), text).toBe(false);
    }
  });

  it('reads text as JSON prints it: refused raw exactly when refused as stored, logged or sent in a webhook', () => {
    // A backslash before a line break was two separators raw and one once JSON wrote it (`\\\n`): the refusal
    // accepted this metadata value, and the dump scan and the webhook payload guard then found a card in it.
    const spread = `400005${'\\\n'.repeat(5)}6655665556`;
    expect(containsCardNumber(JSON.stringify(spread))).toBe(true);
    expect(containsCardNumber(spread)).toBe(true);
    // Digit groups apart by runs of what JSON escapes, as long as MAX_GAP and longer.
    const group = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 9 });
    const apart = fc.string({
      unit: fc.constantFrom('\\', '\n', '\t', '\r', '\b', '\f', '\u0001', '\u001f', '"', ' ', '/', 'n', 'u', '%', '\u2028'),
      minLength: 1,
      maxLength: 12,
    });
    const text = fc.array(fc.tuple(group, apart), { minLength: 1, maxLength: 6 }).map((parts) => parts.flat().join(''));
    fc.assert(
      fc.property(text, (t) => {
        expect(containsCardNumber(JSON.stringify(t)), JSON.stringify(t)).toBe(containsCardNumber(t));
        expect(containsPan(JSON.stringify(t)), JSON.stringify(t)).toBe(containsPan(t));
      }),
      { numRuns: 3000 },
    );
  });

  it('masks a number spread over a JSON array in a log line', () => {
    const line = `${JSON.stringify({ msg: 'x', digits: [...number].map(Number) })}\n`;
    const scrubbed = scrubLine(line);
    expect(scrubbed.replace(/[^0-9]/g, '')).not.toContain('411111111111');
    expect(JSON.parse(scrubbed)).toMatchObject({ msg: 'x' });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('Luhn-exempt UnionPay numbers (accepted by the vault, so found like any card number)', () => {
  const unionPay = '6221260000000001'; // UnionPay range, fails Luhn
  it('is found, masked in logs, and refused in free text; too short for UnionPay, it is not', () => {
    expect(luhnValid(unionPay)).toBe(false);
    expect(detectBrand(unionPay)).toBe('UNIONPAY');
    expect(findPans(`ref x${unionPay}y`).map((p) => p.digits)).toContain(unionPay);
    expect(scrubText(`paid with 6221 2600 0000 0001 today`)).not.toMatch(/6221\s?2600/);
    expect(maskPans(`card=${unionPay}`)).toBe('card=[PAN ****0001]');
    expect(containsCardNumber(`note 6221-2600-0000-0001`)).toBe(true);
    // Too short for UnionPay (its lengths start at 14): 13 digits of its range that fail Luhn are left alone.
    expect(luhnValid('6221260000010')).toBe(false);
    expect(findPans('6221260000010')).toEqual([]);
  });
});

describe('masking a forwarded answer', () => {
  const sentNumber = '4000056655665556';
  const sentCvc = '739';

  it('masks the exact values sent in every encoding an upstream may echo them in', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.string({ unit: fc.constantFrom(...'ab9_='), maxLength: 5 }),
        written(sentNumber),
        (pad, around, formatted) => {
          const padded = `${'x'.repeat(pad)}${sentNumber}${around}`;
          // Built by hand: the escapes are what the upstream wrote, not what JSON.stringify would.
          const escapes = [...sentNumber].map((c) => `\\u00${c.charCodeAt(0).toString(16)}`).join('');
          const reply =
            `{"ref":"${sentCvc}","plain":${JSON.stringify(`${around}${formatted}${around}`)},"b64":"${Buffer.from(padded).toString('base64')}",` +
            `"b64url":"${Buffer.from(padded).toString('base64url')}","hex":"${Buffer.from(padded).toString('hex')}",` +
            `"pct":"${[...sentNumber].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}","u":"${escapes}",` +
            `"utf16":${JSON.stringify(Buffer.from(sentNumber, 'utf16le').toString('latin1'))}}`;
          const masked = JSON.parse(maskCardData(reply, [sentNumber, sentCvc])) as Record<string, string>;
          expect(masked.ref).toBe('***');
          expect(leaves12(masked.plain!, sentNumber)).toBe(false);
          expect(leaves12(masked.utf16!, sentNumber)).toBe(false);
          for (const field of ['b64', 'b64url'] as const) {
            const decoded = Buffer.from(masked[field]!.replace(/\*/g, 'A'), field === 'b64' ? 'base64' : 'base64url').toString('latin1');
            expect(leaves12(decoded, sentNumber), field).toBe(false);
          }
          expect(leaves12(Buffer.from(masked.hex!.replace(/\*/g, '0'), 'hex').toString('latin1'), sentNumber)).toBe(false);
          expect(leaves12(decodeURIComponent(masked.pct!.replace(/\*/g, '')), sentNumber)).toBe(false);
          expect(leaves12(masked.u!, sentNumber)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('masks a CVC standing alone in any field, not the same digits inside longer numbers', () => {
    expect(maskCardData('{"reference":"739","amount":17390,"note":"code 739."}', [sentNumber, sentCvc])).toBe(
      '{"reference":"***","amount":17390,"note":"code ***."}',
    );
  });

  it('masks a CVC that is a run of digits of its own, next to other digits across a separator (review F3)', () => {
    const secrets = [sentNumber, sentCvc];
    expect(maskCardData('x739/12', secrets)).toBe('x***/12');
    expect(maskCardData('{"c":"739 2030","d":"12-739","e":"7 3 9","f":"\\u0037\\u0033\\u0039/1"}', secrets)).toBe(
      '{"c":"*** 2030","d":"12-***","e":"***","f":"***/1"}',
    );
    // Glued to other digits it cannot be told from them (forwardRequest refuses templates that do that).
    expect(maskCardData('73912', secrets)).toBe('73912');
  });

  it('masks the sent number however an upstream spreads its digits out (review F4)', () => {
    const groups = (sep: string) => sentNumber.match(/\d{4}/g)!.join(sep);
    const shown = `${sentNumber.slice(0, 6)}******${sentNumber.slice(-4)}`;
    for (const [reply, masked] of [
      [groups(','), shown],
      [groups('\n'), shown],
      [groups('\r\n'), shown],
      [groups(' '.repeat(12)), shown],
      [`[${[...sentNumber].join(',')}]`, `[${shown}]`],
      [`{"d":[${[...sentNumber].map((d) => `"${d}"`).join(',')}]}`, `{"d":["${shown}"]}`],
      [[...sentNumber].join('x'), shown],
      [`a=${groups('&b=')}`, `a=${shown}`],
    ] as const) {
      expect(maskCardData(reply, [sentNumber]), reply).toBe(masked);
    }
    // Other digits in between are not the number.
    expect(maskCardData(`${sentNumber.slice(0, 8)}0${sentNumber.slice(8)}`, [sentNumber])).not.toBe(shown);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Linear time: the work for 8n characters stays well below the 64 times the work for n that quadratic work
// takes (the old masker spent 10 s on "2 " x 32k). Ratios only: the machine is shared.

/** The fastest of a few runs: interference from other processes only ever adds time. */
function fastestMs(run: () => void, repeats = 5): number {
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

const ADVERSARIAL: Array<[string, (n: number) => string]> = [
  ['"2 " repeated', (n) => '2 '.repeat(n)],
  ['digits only', (n) => '4'.repeat(n)],
  ['digits and separators', (n) => '42-4 2.4/2_'.repeat(Math.ceil(n / 11)).slice(0, n)],
  ['near misses of the sent number', (n) => '400005665566555 '.repeat(Math.ceil(n / 16)).slice(0, n)],
  ['Luhn-valid windows everywhere', (n) => '4242424242424242'.repeat(Math.ceil(n / 16)).slice(0, n)],
  ['a CVC name and endless spaces', (n) => `"cvc":${' '.repeat(n)}x`],
  ['CVC names', (n) => 'cvc: cvv=\'security_code" '.repeat(Math.ceil(n / 25)).slice(0, n)],
  ['escaped near misses', (n) => '\\u0034\\u0030\\u0030'.repeat(Math.ceil(n / 18)).slice(0, n)],
  ['fullwidth digits and NBSPs', (n) => '４\u00a0'.repeat(Math.ceil(n / 2)).slice(0, n)],
  ['digits of other scripts and format characters', (n) => '٤\u200b४\u2060৪\u00ad'.repeat(Math.ceil(n / 6)).slice(0, n)],
  ['digits among letters', (n) => '4a0b0c0d'.repeat(Math.ceil(n / 8)).slice(0, n)],
  ['long separator runs', (n) => '4______4\n\n\n\n\n\n\n\n'.repeat(Math.ceil(n / 17)).slice(0, n)],
  ['percent-encoded UTF-8', (n) => '4%E2%80%8B%D9%A4%'.repeat(Math.ceil(n / 17)).slice(0, n)],
  ['backslash runs', (n) => `4${'\\'.repeat(n)}x`],
  ['double-escaped near misses', (n) => '\\\\u0034\\\\n'.repeat(Math.ceil(n / 11)).slice(0, n)],
];

/**
 * Time for 8n characters over time for n (each the fastest of five, the smaller counted as at least 5 ms).
 * Linear work gives about 8, quadratic 64; the bound of 32 leaves room for a shared machine's noise.
 */
function growth(build: (n: number) => string, run: (text: string) => unknown, n = 64_000): number {
  const small = build(n);
  const large = build(8 * n);
  run(small);
  run(large); // warm up
  return (
    fastestMs(() => run(large)) /
    Math.max(
      fastestMs(() => run(small)),
      5,
    )
  );
}

describe('masking time', () => {
  it.each(ADVERSARIAL)('grows linearly with the answer: %s', (_name, build) => {
    expect(growth(build, (text) => maskCardData(text, ['4000056655665556', '739', 'AAABBBCCCDDDEEEFFFGGGHHH=']))).toBeLessThan(32);
  });

  it.each(ADVERSARIAL)('grows linearly with a log line: %s', (_name, build) => {
    expect(growth((n) => `${JSON.stringify({ msg: build(n) })}\n`, scrubLine)).toBeLessThan(32);
  });
});
