import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { ibanSpans } from '../../src/card/bankAccount.js';
import { panSpans } from '../../src/card/pan.js';

/**
 * Every card number in the text as the vault's own detector finds it (src/card/pan.ts: any Luhn-valid 12-19
 * digit window in a card range, whatever its neighbours and separators), after blanking what is known not to
 * be card data: UUIDs (request ids), hex digests of 32+ characters (hashes, fingerprints, bytea) and the
 * database's timestamps (`2026-11-30 10:30:06.964417+00`: 22 digits joined by separators), where one in ten
 * digit-only stretches would pass Luhn by chance.
 */
export function panLike(text: string): string[] {
  const blanked = text
    .replace(UUID, (m) => 'u'.repeat(m.length))
    .replace(TIMESTAMP, (m) => 't'.repeat(m.length))
    .replace(HEX_DIGEST, (m) => (/[a-f]/i.test(m) ? 'h'.repeat(m.length) : m));
  return panSpans(blanked, { cardRangesOnly: true }).map((s) => s.digits);
}

/**
 * Card numbers in a database dump (pg_dump `--inserts`, or dumpRows' lines), each value read on its own:
 * - One value never runs into the next column. Log masking joins digits across any separators, as a log line
 *   may split a number, but `'…Zq61', '400005', '5556'` (a base64url fingerprint ending in digits, then the
 *   BIN and the last four) would read as the Maestro-range 614000055556. CI once failed on such a row.
 * - A JSON value (jsonb: metadata, audit details) is read string by string and number by number, as the
 *   vault checks metadata key by key and value by value: `{"4": "0000566", "5": "5665556"}`, two entries
 *   each accepted, would otherwise read as 4000056655665556. CI once failed on such a customer row, which the
 *   hostile-input test's generated metadata had stored.
 * - Inside a text value or a JSON string, digits join across any separators (`'4000,0566,5566,5556'` is
 *   found), as log masking reads them: no column the vault writes itself may hold one, whatever a merchant's
 *   free text is allowed (src/card/pan.ts `containsCardNumber` lets `:`, `,` and `;` end a number there).
 * Statements other than INSERTs (the schema) are read with each quote ending a value.
 */
export function panLikeInDump(dump: string): string[] {
  const found: string[] = [];
  let at = 0;
  const insert = /^INSERT INTO [^\n]*? VALUES \(/gm;
  for (let m = insert.exec(dump); m !== null; m = insert.exec(dump)) {
    found.push(...panLike(quotesApart(dump.slice(at, m.index))));
    at = m.index + m[0].length;
    // The row's values, one ROW_VALUE each.
    for (;;) {
      ROW_VALUE.lastIndex = at;
      const v = ROW_VALUE.exec(dump);
      if (!v) {
        // Not a row as pg_dump writes one: the rest of the statement (to a `;` outside quotes) is read as text.
        const end = statementEnd(dump, at);
        found.push(...panLike(quotesApart(dump.slice(at, end))));
        at = end;
        break;
      }
      at = ROW_VALUE.lastIndex;
      found.push(...(v[1] === undefined ? panLike(v[2] ?? '') : cardsInValue(v[1].replaceAll("''", "'"))));
      if (v[3] === ')') break;
    }
    insert.lastIndex = at;
  }
  found.push(...panLike(quotesApart(dump.slice(at))));
  return found;
}

/**
 * One value of a row and what follows it (`,` or `)`): quoted text ('' inside stands for '), or a bare NULL,
 * number or boolean. Each part starts with a character of its own, so a failed match backtracks in linear time.
 */
const ROW_VALUE = /\s*(?:(?:'((?:[^']|'')*)'|([^,)'\s]+))\s*)?([,)])/y;

/** Where the statement that `from` is in ends: after the first `;` outside quotes, or at the end. */
function statementEnd(text: string, from: number): number {
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "'")
      quoted = !quoted; // '' inside a value toggles twice
    else if (text[i] === ';' && !quoted) return i + 1;
  }
  return text.length;
}

function cardsInValue(text: string): string[] {
  if (!/^\s*[[{]/.test(text)) return panLike(text);
  try {
    JSON.parse(text);
  } catch {
    return panLike(text);
  }
  return [...text.matchAll(/"(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*/g)].flatMap((token) => panLike(token[0]));
}

/** Each quote (not an escaped `''`) a letter between spaces: it ends a digit sequence and keeps word boundaries. */
const quotesApart = (text: string): string => text.replace(/''|'/g, (quote) => (quote === "''" ? '  ' : ' x '));

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const TIMESTAMP = /\b(?:19|20)\d\d-[01]\d-[0-3]\d[ T][0-2]\d:[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z|[+-][01]\d(?::?\d\d)?)?/g;
const HEX_DIGEST = /[0-9a-f]{32,}/gi;

/** Every IBAN in the text as the vault's own detector finds it (src/card/bankAccount.ts, what the logger masks). */
export function ibanLike(text: string): string[] {
  return ibanSpans(text).map((s) => s.iban);
}

/**
 * Bank account numbers known to a test (ACH, BACS) found in the text, whole or with a space or dash between
 * any of their digits: no detector can tell 4-17 bare digits from any other number, so a test scans for the
 * very values it sent.
 */
export function accountNumbersIn(text: string, accounts: readonly string[]): string[] {
  return accounts.filter((a) => new RegExp(`(?<![0-9])${a.split('').join('[ -]?')}(?![0-9])`).test(text));
}

/**
 * Where the leaks are: each line holding one, shortened, with its digits masked but the last four. A dump's
 * lines are read as `panLikeInDump` reads them.
 */
export function leakLines(text: string, { limit = 10, dump = false }: { limit?: number; dump?: boolean } = {}): string[] {
  const cards = dump ? panLikeInDump : panLike;
  return text
    .split('\n')
    .filter((line) => cards(line).length > 0 || cvcLike(line).length > 0 || ibanLike(line).length > 0)
    .slice(0, limit)
    .map((line) => line.slice(0, 160).replace(/\d(?=\D*\d\D*\d\D*\d\D*\d)/g, '#'));
}

/** A CVC written out next to its name (`"cvc":"123"`, `cvv=1234`): what a leaked CVC looks like. */
export function cvcLike(text: string): string[] {
  return [...text.matchAll(/\b(?:card_?)?(?:cvc2?|cvv2?|csc|security_?code)["']?\s*[:=]\s*["']?\d{3,4}\b/gi)].map((m) => m[0]);
}

/**
 * The whole database as `pg_dump` writes it (schema and data, plain SQL): what a stolen backup would show.
 * Rows as INSERT statements: COPY's tab-separated columns would join neighbouring numbers into one digit
 * sequence (tabs separate digit groups for the detector).
 * Without pg_dump on the PATH, every row of every table as JSON lines instead.
 */
export async function dumpDatabase(databaseUrl: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('pg_dump', ['--no-owner', '--inserts', '--dbname', databaseUrl], {
      maxBuffer: 1024 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return dumpRows(databaseUrl);
  }
}

async function dumpRows(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    let dump = '';
    for (const { table_name } of tables) {
      const { rows } = await client.query(`SELECT * FROM ${pg.escapeIdentifier(table_name)}`);
      // As pg_dump --inserts writes a row: each value quoted on its own (what panLikeInDump reads).
      const text = (v: unknown) =>
        typeof v === 'string'
          ? v
          : v instanceof Date
            ? v.toISOString()
            : Buffer.isBuffer(v)
              ? `\\x${v.toString('hex')}`
              : JSON.stringify(v);
      const literal = (v: unknown) => (v === null ? 'NULL' : `'${text(v).replaceAll("'", "''")}'`);
      dump += rows.map((r) => `INSERT INTO ${table_name} VALUES (${Object.values(r).map(literal).join(', ')});\n`).join('');
    }
    return dump;
  } finally {
    await client.end();
  }
}
