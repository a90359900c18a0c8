import { createHash } from 'node:crypto';
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { describeMigration, migrate, pendingMigrations } from '../../src/db/migrate.js';
import { querySql as query, createTestDatabase, type TestDatabase } from '../helpers/db.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

// Computed independently of the runner: every directory is a migration, checksum = SHA-256 of migration.sql.
let onDisk: { name: string; checksum: string }[];

beforeAll(async () => {
  const dirs = (await readdir(MIGRATIONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory());
  onDisk = await Promise.all(
    dirs
      .map((d) => d.name)
      .sort()
      .map(async (name) => ({
        name,
        checksum: createHash('sha256')
          .update(await readFile(path.join(MIGRATIONS_DIR, name, 'migration.sql')))
          .digest('hex'),
      })),
  );
  expect(onDisk.length).toBeGreaterThan(0);
});

// Resources created by the running test, released after it whatever its outcome.
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanups.push(db.drop);
  return db;
}

/** A scratch copy of the migrations directory, to edit without touching the real one. */
async function migrationsCopy(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function addMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(path.join(dir, name));
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
}

interface HistoryRow {
  id: string;
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
}

const history = (url: string) => query<HistoryRow>(url, 'SELECT * FROM "_prisma_migrations" ORDER BY migration_name');

describe('migrate', () => {
  it('applies all migrations to an empty database and records them as Prisma does', async () => {
    const db = await freshDatabase();
    const log: string[] = [];

    const { applied } = await migrate(db.url, { log: (m) => log.push(m) });

    expect(applied).toEqual(onDisk.map((m) => m.name));
    expect(log).toEqual(onDisk.map((m) => `Applying migration ${describeMigration(m.name)}`));
    const rows = await history(db.url);
    expect(rows.map((r) => [r.migration_name, r.checksum])).toEqual(onDisk.map((m) => [m.name, m.checksum]));
    for (const row of rows) {
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
    expect(await query(db.url, 'SELECT count(*) FROM merchants')).toEqual([{ count: '0' }]);
  });

  it('applies nothing on a second run', async () => {
    const db = await freshDatabase();
    await migrate(db.url);
    const log: string[] = [];

    expect(await migrate(db.url, { log: (m) => log.push(m) })).toEqual({ applied: [] });
    expect(log).toEqual(['No pending migrations']);
    expect(await history(db.url)).toHaveLength(onDisk.length);
  });

  it('applies each migration exactly once when two runners start at the same time', async () => {
    const db = await freshDatabase();

    const results = await Promise.all([migrate(db.url), migrate(db.url)]);

    // Between them they applied every migration once (each migration takes the lock in its own transaction,
    // so the two may share the work), and each applied its share in name order.
    expect(results.flatMap((r) => r.applied).sort()).toEqual(onDisk.map((m) => m.name));
    for (const r of results) expect(r.applied).toEqual([...r.applied].sort());
    const counts = await query<{ migration_name: string; n: number }>(
      db.url,
      'SELECT migration_name, count(*)::int AS n FROM "_prisma_migrations" GROUP BY migration_name ORDER BY 1',
    );
    expect(counts).toEqual(onDisk.map((m) => ({ migration_name: m.name, n: 1 })));
  });

  it('applies only the migrations added since the last run', async () => {
    const db = await freshDatabase();
    const dir = await migrationsCopy();
    await migrate(db.url, { migrationsDir: dir });
    await addMigration(dir, '29990101000000_add_note', 'ALTER TABLE "merchants" ADD COLUMN "note" TEXT;');

    expect(await migrate(db.url, { migrationsDir: dir })).toEqual({ applied: ['29990101000000_add_note'] });
    expect(await query(db.url, 'SELECT note FROM merchants')).toEqual([]);
  });

  it('refuses a migration modified after it was applied, naming it', async () => {
    const db = await freshDatabase();
    const dir = await migrationsCopy();
    await migrate(db.url, { migrationsDir: dir });
    const first = onDisk[0]!.name;
    await appendFile(path.join(dir, first, 'migration.sql'), '\n-- edited\n');

    await expect(migrate(db.url, { migrationsDir: dir })).rejects.toThrow(`Migration ${first} was modified after it was applied`);
    await expect(pendingMigrations(db.url, { migrationsDir: dir })).rejects.toThrow(first);
  });

  it('refuses to run when an applied migration is missing from disk, naming it', async () => {
    const db = await freshDatabase();
    const dir = await migrationsCopy();
    await addMigration(dir, '29990101000000_removed_later', 'SELECT 1;');
    await migrate(db.url, { migrationsDir: dir });
    await rm(path.join(dir, '29990101000000_removed_later'), { recursive: true });

    await expect(migrate(db.url, { migrationsDir: dir })).rejects.toThrow(
      'Migration 29990101000000_removed_later is applied to the database but missing',
    );
  });

  it('refuses to run over a failed migration recorded by Prisma, naming it', async () => {
    const db = await freshDatabase();
    await migrate(db.url);
    // What `prisma migrate deploy` leaves behind when a migration fails.
    await query(
      db.url,
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs)
       VALUES (gen_random_uuid(), 'x', '29990101000000_failed', 'boom')`,
    );

    await expect(migrate(db.url)).rejects.toThrow(/Migration 29990101000000_failed failed/);
  });

  it('leaves nothing behind when a migration fails', async () => {
    const db = await freshDatabase();
    const dir = await migrationsCopy();
    await addMigration(dir, '29990101000000_broken', 'CREATE TABLE "half" (id TEXT);\nSELECT 1 / 0;');

    await expect(migrate(db.url, { migrationsDir: dir })).rejects.toThrow(
      /Migration 29990101000000_broken failed and was rolled back: division by zero/,
    );
    // Earlier migrations stay applied; the failed one is neither applied nor recorded.
    expect((await history(db.url)).map((r) => r.migration_name)).toEqual(onDisk.map((m) => m.name));
    expect(await query(db.url, `SELECT to_regclass('half') AS t`)).toEqual([{ t: null }]);
    expect(await pendingMigrations(db.url, { migrationsDir: dir })).toEqual(['29990101000000_broken']);
  });
});

describe('pendingMigrations', () => {
  it('lists every migration before the first run (no _prisma_migrations table yet)', async () => {
    const db = await freshDatabase();
    expect(await pendingMigrations(db.url)).toEqual(onDisk.map((m) => m.name));
  });

  it('is empty after migrating, and lists migrations added since', async () => {
    const db = await freshDatabase();
    const dir = await migrationsCopy();
    await migrate(db.url, { migrationsDir: dir });
    expect(await pendingMigrations(db.url, { migrationsDir: dir })).toEqual([]);

    await addMigration(dir, '29990101000000_next', 'SELECT 1;');
    expect(await pendingMigrations(db.url, { migrationsDir: dir })).toEqual(['29990101000000_next']);
  });
});

describe('embedded PostgreSQL (PGlite)', () => {
  it('starts, migrates, and keeps data across a stop and start', async () => {
    const dataDir = path.join(await mkdtemp(path.join(tmpdir(), 'vault-pglite-')), 'data');
    cleanups.push(() => rm(path.dirname(dataDir), { recursive: true, force: true }));

    const first = await startEmbeddedPostgres({ dataDir });
    try {
      expect(first.url).toMatch(/^postgresql:\/\/postgres:[\w-]{32}@127\.0\.0\.1:\d+\/postgres$/);
      expect(await pendingMigrations(first.url)).toEqual(onDisk.map((m) => m.name));
      expect((await migrate(first.url)).applied).toEqual(onDisk.map((m) => m.name));
      await query(first.url, `INSERT INTO merchants (id, name) VALUES ('mer_1', 'Kept')`);
    } finally {
      await first.stop();
    }

    const second = await startEmbeddedPostgres({ dataDir });
    try {
      expect(await pendingMigrations(second.url)).toEqual([]);
      expect(await migrate(second.url)).toEqual({ applied: [] });
      expect(await query(second.url, 'SELECT id, name FROM merchants')).toEqual([{ id: 'mer_1', name: 'Kept' }]);
    } finally {
      await second.stop();
    }
  });
});
