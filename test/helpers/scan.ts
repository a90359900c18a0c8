import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { detectBrand, luhnValid } from '../../src/validation/card.js';

/**
 * Every 12-19 digit run (spaces/dashes allowed) that passes Luhn, falls in a card brand's range and stands on
 * its own: what a leaked card number looks like (the same definition as the validation's
 * containsCardNumber). Runs glued to letters, digits, `_` or a leading `-` are parts of hex hashes, UUIDs or
 * base64 (one in ten of those passes Luhn by chance), not card numbers written out; so are runs followed by a
 * `-` (the all-digit first groups of a UUID, like the request ids in the audit trail).
 */
export function panLike(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?<![\w-])\d(?:[ -]?\d){11,18}(?![\w-])/g)) {
    const digits = m[0].replace(/\D/g, '');
    if (luhnValid(digits) && detectBrand(digits) !== 'UNKNOWN') found.push(digits);
  }
  return found;
}

/** Where the leaks are: each line holding one, shortened, with its digits masked but the last four. */
export function leakLines(text: string, limit = 10): string[] {
  return text
    .split('\n')
    .filter((line) => panLike(line).length > 0 || cvcLike(line).length > 0)
    .slice(0, limit)
    .map((line) => line.slice(0, 160).replace(/\d(?=(?:[ -]?\d){4})/g, '#'));
}

/** A CVC written out next to its name (`"cvc":"123"`, `cvv=1234`): what a leaked CVC looks like. */
export function cvcLike(text: string): string[] {
  return [...text.matchAll(/\b(?:card_?)?(?:cvc2?|cvv2?|csc|security_?code)["']?\s*[:=]\s*["']?\d{3,4}\b/gi)].map((m) => m[0]);
}

/**
 * The whole database as `pg_dump` writes it (schema and data, plain SQL): what a stolen backup would show.
 * Without pg_dump on the PATH, every row of every table as JSON lines instead.
 */
export async function dumpDatabase(databaseUrl: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('pg_dump', ['--no-owner', '--dbname', databaseUrl], { maxBuffer: 1024 * 1024 * 1024 });
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
      dump += `${table_name}\n${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
    }
    return dump;
  } finally {
    await client.end();
  }
}
