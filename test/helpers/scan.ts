import pg from 'pg';
import { luhnValid } from '../../src/validation/card.js';

/**
 * Every 12-19 digit run (spaces/dashes allowed) that passes Luhn and stands on its own: what a leaked card
 * number looks like. Runs glued to letters, digits, `_` or a leading `-` are parts of hex hashes, UUIDs or
 * base64 (one in ten of those passes Luhn by chance), not card numbers written out.
 */
export function panLike(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?<![\w-])\d(?:[ -]?\d){11,18}(?!\w)/g)) {
    const digits = m[0].replace(/\D/g, '');
    if (luhnValid(digits)) found.push(digits);
  }
  return found;
}

/** Every row of every table, one JSON line each: what a stolen database would show. */
export async function dumpDatabase(databaseUrl: string): Promise<string> {
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
