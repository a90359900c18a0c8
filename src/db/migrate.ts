// Migration runner: applies the hand-written SQL migrations under prisma/migrations (Prisma's layout) and records
// them in Prisma's `_prisma_migrations` table, so `prisma migrate deploy/status` stay usable where the schema
// engine is available.
//
// Each migration runs in one transaction together with its `_prisma_migrations` row, so a failure leaves
// nothing half-applied. Consequence: migrations must not contain statements that cannot run in a transaction
// block (e.g. CREATE INDEX CONCURRENTLY).
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { PROJECT_ROOT } from '../app/projectRoot.js';

export interface MigrateOptions {
  migrationsDir?: string;
  log?: (msg: string) => void;
}

interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

// The key Prisma Migrate itself locks on PostgreSQL, so this runner and `prisma migrate deploy` also exclude
// each other. Passed as text: it is a bigint parameter.
const LOCK_KEY = '72707369';

const DEFAULT_MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'prisma', 'migrations');

// Prisma's own DDL for the table (PostgreSQL), so the history stays readable by the Prisma CLI.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** Applies all pending migrations in name order; returns the names it applied. */
export async function migrate(databaseUrl: string, opts: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => {});
  const files = await readMigrationFiles(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    // One transaction per migration, each holding the lock as a transaction-level advisory lock and reading
    // the history again under it: a concurrent runner waits, then finds nothing pending. No session state,
    // so it runs the same through a transaction-pooling proxy (PgBouncer), where a session lock would be
    // taken on one server connection, "released" on another and left behind on the first.
    for (;;) {
      await client.query('BEGIN');
      let next: MigrationFile | undefined;
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
        await client.query(CREATE_MIGRATIONS_TABLE);
        next = planPending(files, await readMigrationRows(client))[0];
        if (next) {
          log(`Applying migration ${describeMigration(next.name)}`);
          await applyMigration(client, next);
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      if (!next) break;
      applied.push(next.name);
    }
    if (applied.length === 0) log('No pending migrations');
    return { applied };
  } finally {
    await client.end();
  }
}

/**
 * Names of the migrations not yet applied (all of them if `_prisma_migrations` does not exist yet). Throws,
 * like `migrate`, when the history is inconsistent (failed, modified or unknown migrations).
 */
export async function pendingMigrations(databaseUrl: string, opts: MigrateOptions = {}): Promise<string[]> {
  const files = await readMigrationFiles(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ exists: boolean }>(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS exists`);
    if (!rows[0]?.exists) return files.map((m) => m.name);
    return planPending(files, await readMigrationRows(client)).map((m) => m.name);
  } finally {
    await client.end();
  }
}

async function readMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(path.join(dir, name, 'migration.sql'));
      return { name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') };
    }),
  );
}

async function readMigrationRows(client: pg.Client): Promise<MigrationRow[]> {
  const { rows } = await client.query<MigrationRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
  );
  return rows;
}

/** Validates the recorded history against the files and returns the files still to apply, in name order. */
function planPending(files: MigrationFile[], rows: MigrationRow[]): MigrationFile[] {
  // Rows marked rolled back (`prisma migrate resolve --rolled-back`) are history only; the migration is
  // applied again, as Prisma does.
  const live = rows.filter((r) => r.rolled_back_at === null);
  const failed = live.filter((r) => r.finished_at === null);
  if (failed.length > 0) {
    const names = failed.map((r) => r.migration_name).join(', ');
    throw new Error(
      `Migration ${names} failed or is still in progress (finished_at is NULL in _prisma_migrations); ` +
        'fix the database by hand, then mark it with `prisma migrate resolve`',
    );
  }
  const byName = new Map(files.map((f) => [f.name, f]));
  for (const row of live) {
    const file = byName.get(row.migration_name);
    if (!file) {
      throw new Error(`Migration ${row.migration_name} is applied to the database but missing from the migrations directory`);
    }
    if (file.checksum !== row.checksum) {
      throw new Error(`Migration ${row.migration_name} was modified after it was applied (checksum mismatch)`);
    }
  }
  const applied = new Set(live.map((r) => r.migration_name));
  return files.filter((f) => !applied.has(f.name));
}

/** Within the caller's transaction: the migration and its history row, together or (rolled back) neither. */
async function applyMigration(client: pg.Client, migration: MigrationFile): Promise<void> {
  try {
    // No parameters: the simple query protocol, which accepts a script of several statements.
    await client.query(migration.sql);
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
       VALUES ($1, $2, now(), $3, 1)`,
      [randomUUID(), migration.checksum, migration.name],
    );
  } catch (err) {
    throw new Error(`Migration ${migration.name} failed and was rolled back: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A migration's name as logged: `tokens_payments (2026-11-21 at 17:00:00)`. The timestamp as digits and
 * separators alone (bare, or `2026-11-21 17:00:00`) is one 14-digit run, often Luhn-valid, which the log
 * scrubber rightly masks as a card number; "at" splits it into runs no card number has.
 */
export function describeMigration(name: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_(.+)$/.exec(name);
  if (!m) return name;
  // Two migrations (20261203500000_webhooks, 20261203600000_card_lifecycle) used the time digits as a
  // sequence; their names are in databases and stay. They are shown with their date only, not "at 50:00:00".
  const time = Number(m[4]) < 24 && Number(m[5]) < 60 && Number(m[6]) < 60 ? ` at ${m[4]}:${m[5]}:${m[6]}` : '';
  return `${m[7]} (${m[1]}-${m[2]}-${m[3]}${time})`;
}
