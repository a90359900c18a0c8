// Drift check: the database the hand-written migrations produce must match prisma/schema.prisma, since the
// schema engine (`prisma migrate diff`) cannot run here. The datamodel comes from Prisma itself (DMMF, via a
// throwaway generator run by `prisma generate`); the database side from pg_catalog. Anything the comparison
// does not understand throws instead of passing silently: extend the checker when the schema grows.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCHEMA_PATH = path.join(PROJECT_ROOT, 'prisma', 'schema.prisma');
const PRISMA_CLI = createRequire(import.meta.url).resolve('prisma/build/index.js');

// ---------------------------------------------------------------------------------------------------------
// The datamodel as Prisma reads it (the DMMF subset used here)

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'enum' | 'object' | 'unsupported';
  type: string;
  isList: boolean;
  isRequired: boolean;
  hasDefaultValue: boolean;
  default?: unknown;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}

interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}

interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName?: string | null }[];
}

interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal' | 'fulltext';
  dbName?: string | null;
  algorithm?: string;
  fields: ({ name: string; sortOrder?: 'asc' | 'desc' } & Record<string, unknown>)[];
}

interface Datamodel {
  models: DmmfModel[];
  enums: DmmfEnum[];
  indexes: DmmfIndex[];
}

// A generator speaking Prisma's generator protocol (JSON-RPC: requests on stdin, replies on stderr) that
// writes the datamodel it is handed to its `output` path. No dependencies, so it runs from a temp folder.
const DUMP_GENERATOR = `
const fs = require('node:fs');
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line);
  let result;
  if (msg.method === 'getManifest') result = { manifest: { prettyName: 'DMMF dump' } };
  else if (msg.method === 'generate') {
    fs.writeFileSync(msg.params.generator.output.value, JSON.stringify(msg.params.dmmf.datamodel));
    result = null;
  } else return;
  process.stderr.write(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }) + '\\n');
});
`;

/**
 * Runs `prisma generate` on a copy of the schema with the dump generator added and only that generator
 * selected (the project's generators do not run). `prisma generate` never needs the schema engine; the
 * env var stops the CLI from trying to download it, as in the `prisma:generate` npm script.
 */
async function loadDatamodel(schemaPath: string): Promise<Datamodel> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-dmmf-'));
  try {
    const generator = path.join(dir, 'dump-dmmf.cjs');
    const output = path.join(dir, 'datamodel.json');
    const schema = path.join(dir, 'schema.prisma');
    await writeFile(generator, DUMP_GENERATOR);
    await writeFile(
      schema,
      `${await readFile(schemaPath, 'utf8')}\n` +
        `generator dmmf_dump {\n  provider = ${JSON.stringify(`node ${generator}`)}\n  output   = ${JSON.stringify(output)}\n}\n`,
    );
    await promisify(execFile)(process.execPath, [PRISMA_CLI, 'generate', '--schema', schema, '--generator', 'dmmf_dump', '--no-hints'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? 'package.json' },
    });
    return JSON.parse(await readFile(output, 'utf8')) as Datamodel;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// A common shape for both sides

interface ColumnShape {
  type: string;
  notNull: boolean;
  /** The default expression, literals unquoted and uncast (`'CARD'::"X"` → `CARD`); null when none. */
  default: string | null;
}

interface IndexShape {
  kind: 'primary key' | 'unique index' | 'index';
  name: string;
  /** Column names in index order, with " DESC" for descending ones. */
  columns: string[];
  method: string;
  /** What Prisma's schema cannot describe (partial, expression, INCLUDE); always empty on the schema side. */
  inexpressible: string[];
  nullsNotDistinct: boolean;
}

interface ForeignKeyShape {
  columns: string[];
  refTable: string;
  refColumns: string[];
  onDelete: string;
  onUpdate: string;
}

interface TableShape {
  columns: Map<string, ColumnShape>;
  indexes: IndexShape[];
  foreignKeys: ForeignKeyShape[];
}

interface SchemaShape {
  tables: Map<string, TableShape>;
  enums: Map<string, string[]>;
}

const emptyTable = (): TableShape => ({ columns: new Map(), indexes: [], foreignKeys: [] });

function unsupported(what: string): never {
  throw new Error(`schema-drift checker: ${what} is not supported yet; extend test/schema-drift.test.ts`);
}

/** Prisma's default constraint names for PostgreSQL (63-byte identifiers; the suffix is always kept). */
function defaultName(table: string, columns: string[], suffix: '_pkey' | '_key' | '_idx'): string {
  return [table, ...columns].join('_').slice(0, 63 - suffix.length) + suffix;
}

// Defaults computed by Prisma Client, not by the database.
const CLIENT_SIDE_DEFAULTS = new Set(['uuid', 'cuid', 'nanoid', 'ulid']);

function expectedDefault(field: DmmfField, table: string): string | null {
  if (!field.hasDefaultValue) return null;
  const value = field.default;
  if (field.isList) {
    if (Array.isArray(value) && value.length === 0) return `ARRAY[]::${expectedType(field, () => unsupported('enum lists'))}`;
    return unsupported(`list default on ${field.name}`);
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  const fn = value as { name: string; args: unknown[] };
  if (fn.name === 'now') return 'CURRENT_TIMESTAMP';
  // A serial column: the sequence PostgreSQL names after it.
  if (fn.name === 'autoincrement') return `nextval('${table}_${field.dbName ?? field.name}_seq'::regclass)`;
  if (fn.name === 'dbgenerated' && typeof fn.args[0] === 'string') return fn.args[0];
  if (CLIENT_SIDE_DEFAULTS.has(fn.name)) return null;
  return unsupported(`@default(${fn.name}()) on ${field.name}`);
}

function expectedType(field: DmmfField, enumDbName: (name: string) => string): string {
  if (field.isList) {
    // Scalar lists: PostgreSQL arrays of the element type (of plain types only, so far).
    if (field.kind !== 'scalar' || field.nativeType) unsupported(`list field ${field.name} of ${field.type}`);
    return `${expectedType({ ...field, isList: false }, enumDbName)}[]`;
  }
  if (field.kind === 'enum') return `enum ${enumDbName(field.type)}`;
  const [native, args = []] = field.nativeType ?? [];
  if (field.type === 'DateTime' && (native === undefined || native === 'Timestamptz')) {
    const zone = native === 'Timestamptz' ? 'with' : 'without';
    // Prisma's DateTime defaults to precision 3; a bare @db.Timestamptz means PostgreSQL's default (6).
    const precision = native === undefined ? '3' : args[0];
    return precision === undefined ? `timestamp ${zone} time zone` : `timestamp(${precision}) ${zone} time zone`;
  }
  const plain: Record<string, string> = { String: 'text', Int: 'integer', BigInt: 'bigint', Boolean: 'boolean', Json: 'jsonb' };
  const type = native === undefined ? plain[field.type] : undefined;
  return type ?? unsupported(`type ${field.type}${native ? ` @db.${native}` : ''} of ${field.name}`);
}

function expectedShape(dm: Datamodel): SchemaShape {
  const models = new Map(dm.models.map((m) => [m.name, m]));
  const model = (name: string) => models.get(name) ?? unsupported(`unknown model ${name}`);
  const tableOf = (m: DmmfModel) => m.dbName ?? m.name;
  const columnOf = (m: DmmfModel, fieldName: string) => {
    const field = m.fields.find((f) => f.name === fieldName) ?? unsupported(`unknown field ${m.name}.${fieldName}`);
    return field.dbName ?? field.name;
  };
  const enumDbNames = new Map(dm.enums.map((e) => [e.name, e.dbName ?? e.name]));
  const enumDbName = (name: string) => enumDbNames.get(name) ?? unsupported(`unknown enum ${name}`);

  const shape: SchemaShape = {
    tables: new Map(),
    enums: new Map(dm.enums.map((e) => [enumDbName(e.name), e.values.map((v) => v.dbName ?? v.name)])),
  };
  for (const m of dm.models) {
    const table = emptyTable();
    shape.tables.set(tableOf(m), table);
    for (const f of m.fields) {
      if (f.kind === 'scalar' || f.kind === 'enum') {
        table.columns.set(f.dbName ?? f.name, {
          type: expectedType(f, enumDbName),
          // Prisma creates scalar-list columns nullable (its client never writes NULL to them).
          notNull: f.isRequired && !f.isList,
          default: expectedDefault(f, tableOf(m)),
        });
      } else if (f.kind === 'object') {
        // The side holding `fields:` owns the foreign key; back-relations have none.
        if (!f.relationFromFields?.length) continue;
        const target = model(f.type);
        table.foreignKeys.push({
          columns: f.relationFromFields.map((n) => columnOf(m, n)),
          refTable: tableOf(target),
          refColumns: (f.relationToFields ?? []).map((n) => columnOf(target, n)),
          // Prisma's referential-action defaults.
          onDelete: f.relationOnDelete ?? (f.isRequired ? 'Restrict' : 'SetNull'),
          onUpdate: f.relationOnUpdate ?? 'Cascade',
        });
      } else {
        unsupported(`Unsupported("${f.type}") field ${m.name}.${f.name}`);
      }
    }
  }
  for (const idx of dm.indexes) {
    const m = model(idx.model);
    const table = tableOf(m);
    const names = idx.fields.map((f) => {
      const extra = Object.keys(f).filter((k) => k !== 'name' && k !== 'sortOrder');
      if (extra.length > 0) unsupported(`index field option ${extra.join(', ')} on ${m.name}.${f.name}`);
      return columnOf(m, f.name);
    });
    const kinds = { id: ['primary key', '_pkey'], unique: ['unique index', '_key'], normal: ['index', '_idx'] } as const;
    if (idx.type === 'fulltext') unsupported(`@@fulltext on ${m.name}`);
    const [kind, suffix] = kinds[idx.type];
    shape.tables.get(table)!.indexes.push({
      kind,
      name: idx.dbName ?? defaultName(table, kind === 'primary key' ? [] : names, suffix),
      columns: names.map((n, i) => (idx.fields[i]?.sortOrder === 'desc' ? `${n} DESC` : n)),
      method: (idx.algorithm ?? 'BTree').toLowerCase(),
      inexpressible: [],
      // Not expressible in the schema: only checked where the project relies on it (see below).
      nullsNotDistinct: false,
    });
  }
  return shape;
}

// ---------------------------------------------------------------------------------------------------------
// The database side

const REFERENTIAL_ACTIONS: Record<string, string> = {
  a: 'NoAction',
  r: 'Restrict',
  c: 'Cascade',
  n: 'SetNull',
  d: 'SetDefault',
};

/** `'x'::type` → `x`, so literal defaults compare with the schema's values. */
function normalizeDefault(expr: string | null): string | null {
  const literal = expr === null ? null : /^'((?:[^']|'')*)'::[^']+$/.exec(expr);
  return literal ? literal[1]!.replaceAll("''", "'") : expr;
}

async function introspect(databaseUrl: string): Promise<SchemaShape> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const shape: SchemaShape = { tables: new Map(), enums: new Map() };
    const table = (name: string) => shape.tables.get(name) ?? shape.tables.set(name, emptyTable()).get(name)!;

    const columns = await client.query<{
      table: string;
      column: string | null;
      type: string;
      not_null: boolean;
      default: string | null;
    }>(`
      SELECT c.relname AS table, a.attname AS column, a.attnotnull AS not_null,
             CASE WHEN t.typtype = 'e' THEN 'enum ' || t.typname ELSE format_type(a.atttypid, a.atttypmod) END AS type,
             pg_get_expr(d.adbin, d.adrelid) AS default
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
       WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations'
       ORDER BY c.relname, a.attnum`);
    for (const r of columns.rows) {
      const t = table(r.table);
      if (r.column !== null) t.columns.set(r.column, { type: r.type, notNull: r.not_null, default: normalizeDefault(r.default) });
    }

    const indexes = await client.query<{
      table: string;
      name: string;
      primary: boolean;
      unique: boolean;
      nulls_not_distinct: boolean;
      method: string;
      partial: boolean;
      expression: boolean;
      include: boolean;
      columns: string[];
    }>(`
      SELECT t.relname AS table, i.relname AS name, x.indisprimary AS primary, x.indisunique AS unique,
             x.indnullsnotdistinct AS nulls_not_distinct, am.amname AS method, x.indpred IS NOT NULL AS partial,
             x.indexprs IS NOT NULL AS expression, x.indnatts > x.indnkeyatts AS include,
             ARRAY(SELECT a.attname || CASE WHEN x.indoption[k.i] & 1 = 1 THEN ' DESC' ELSE '' END
                     FROM generate_series(0, x.indnkeyatts - 1) AS k(i)
                     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k.i]
                    ORDER BY k.i)::text[] AS columns
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        JOIN pg_am am ON am.oid = i.relam
       WHERE n.nspname = current_schema() AND t.relname <> '_prisma_migrations'`);
    for (const r of indexes.rows) {
      table(r.table).indexes.push({
        kind: r.primary ? 'primary key' : r.unique ? 'unique index' : 'index',
        name: r.name,
        columns: r.columns,
        method: r.method,
        inexpressible: [r.partial && 'partial (WHERE)', r.expression && 'expression', r.include && 'INCLUDE columns'].filter(
          (x): x is string => typeof x === 'string',
        ),
        nullsNotDistinct: r.nulls_not_distinct,
      });
    }

    const foreignKeys = await client.query<{
      table: string;
      ref_table: string;
      on_delete: string;
      on_update: string;
      columns: string[];
      ref_columns: string[];
    }>(`
      SELECT c.relname AS table, r.relname AS ref_table, con.confdeltype AS on_delete, con.confupdtype AS on_update,
             ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                    ORDER BY k.ord)::text[] AS columns,
             ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                    ORDER BY k.ord)::text[] AS ref_columns
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_class r ON r.oid = con.confrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE con.contype = 'f' AND n.nspname = current_schema()`);
    for (const r of foreignKeys.rows) {
      table(r.table).foreignKeys.push({
        columns: r.columns,
        refTable: r.ref_table,
        refColumns: r.ref_columns,
        onDelete: REFERENTIAL_ACTIONS[r.on_delete] ?? r.on_delete,
        onUpdate: REFERENTIAL_ACTIONS[r.on_update] ?? r.on_update,
      });
    }

    const enums = await client.query<{ name: string; values: string[] }>(`
      SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
        FROM pg_type t
        JOIN pg_enum e ON e.enumtypid = t.oid
        JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE n.nspname = current_schema()
       GROUP BY t.typname`);
    for (const r of enums.rows) shape.enums.set(r.name, r.values);
    return shape;
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Comparison

/** Differences as readable sentences; empty when the database matches the schema. */
function diffShapes(schema: SchemaShape, db: SchemaShape): string[] {
  const out: string[] = [];
  const list = (xs: string[]) => `(${xs.join(', ')})`;

  for (const [name, values] of schema.enums) {
    const actual = db.enums.get(name);
    if (!actual) {
      out.push(`enum ${name}: missing in the database`);
      continue;
    }
    for (const v of values) if (!actual.includes(v)) out.push(`enum ${name}: value ${v} missing in the database`);
    for (const v of actual) if (!values.includes(v)) out.push(`enum ${name}: value ${v} not in schema.prisma`);
  }
  for (const name of db.enums.keys()) if (!schema.enums.has(name)) out.push(`enum ${name}: not in schema.prisma`);

  for (const [name, expected] of schema.tables) {
    const actual = db.tables.get(name);
    if (!actual) {
      out.push(`table ${name}: missing in the database`);
      continue;
    }
    for (const [col, e] of expected.columns) {
      const a = actual.columns.get(col);
      const where = `${name}.${col}`;
      if (!a) {
        out.push(`${where}: column missing in the database`);
        continue;
      }
      if (a.type !== e.type) out.push(`${where}: type is ${a.type} in the database, ${e.type} in schema.prisma`);
      if (a.notNull !== e.notNull) {
        out.push(
          `${where}: ${a.notNull ? 'NOT NULL' : 'nullable'} in the database, ${e.notNull ? 'required' : 'optional'} in schema.prisma`,
        );
      }
      if (a.default !== e.default) {
        out.push(`${where}: default is ${a.default ?? 'none'} in the database, ${e.default ?? 'none'} in schema.prisma`);
      }
    }
    for (const col of actual.columns.keys()) {
      if (!expected.columns.has(col)) out.push(`${name}.${col}: column not in schema.prisma`);
    }

    const indexKey = (i: IndexShape) => `${i.kind} ${list(i.columns)}`;
    const actualIndexes = new Map(actual.indexes.map((i) => [indexKey(i), i]));
    for (const e of expected.indexes) {
      const a = actualIndexes.get(indexKey(e));
      const where = `${name}: ${indexKey(e)}`;
      if (!a) {
        out.push(`${where} missing in the database`);
        continue;
      }
      if (a.name !== e.name) out.push(`${where} is named ${a.name} in the database, ${e.name} per schema.prisma`);
      if (a.method !== e.method) out.push(`${where} uses ${a.method} in the database, ${e.method} in schema.prisma`);
      for (const x of a.inexpressible) out.push(`${where} is ${x} in the database, which schema.prisma cannot express`);
    }
    const expectedKeys = new Set(expected.indexes.map(indexKey));
    for (const a of actual.indexes) {
      if (!expectedKeys.has(indexKey(a))) out.push(`${name}: ${indexKey(a)} ${a.name} not in schema.prisma`);
    }

    const fkKey = (f: ForeignKeyShape) => `foreign key ${list(f.columns)} → ${f.refTable}`;
    const describeFk = (f: ForeignKeyShape) => `${list(f.refColumns)} ON DELETE ${f.onDelete} ON UPDATE ${f.onUpdate}`;
    const actualFks = new Map(actual.foreignKeys.map((f) => [fkKey(f), f]));
    for (const e of expected.foreignKeys) {
      const a = actualFks.get(fkKey(e));
      if (!a) out.push(`${name}: ${fkKey(e)} missing in the database`);
      else if (describeFk(a) !== describeFk(e)) {
        out.push(`${name}: ${fkKey(e)} is ${describeFk(a)} in the database, ${describeFk(e)} in schema.prisma`);
      }
    }
    const expectedFks = new Set(expected.foreignKeys.map(fkKey));
    for (const a of actual.foreignKeys) {
      if (!expectedFks.has(fkKey(a))) out.push(`${name}: ${fkKey(a)} not in schema.prisma`);
    }
  }
  for (const name of db.tables.keys()) if (!schema.tables.has(name)) out.push(`table ${name}: not in schema.prisma`);
  return out;
}

/**
 * The tenancy rule (see schema.prisma): merchant_id on every table and in every unique key, except merchants
 * and the server-wide trusted_documents (the API's own operations, the same for every merchant: a reference
 * table each shard would hold whole).
 */
const SERVER_WIDE = new Set(['merchants', 'trusted_documents']);

function tenancyViolations(db: SchemaShape): string[] {
  const out: string[] = [];
  for (const [name, table] of db.tables) {
    if (SERVER_WIDE.has(name)) continue;
    if (!table.columns.has('merchant_id')) out.push(`${name}: no merchant_id column`);
    for (const i of table.indexes) {
      const columns = i.columns.map((c) => c.replace(/ DESC$/, ''));
      if (i.kind !== 'index' && !columns.includes('merchant_id')) {
        out.push(`${name}: ${i.kind} ${i.name} (${columns.join(', ')}) does not include merchant_id`);
      }
    }
  }
  return out;
}

const report = (title: string, problems: string[]) => `${title}:\n  - ${problems.join('\n  - ')}`;

// ---------------------------------------------------------------------------------------------------------

describe('schema.prisma ↔ migrations', () => {
  let schema: SchemaShape;
  let db: TestDatabase;
  let migrated: SchemaShape;

  beforeAll(async () => {
    schema = expectedShape(await loadDatamodel(SCHEMA_PATH));
    db = await createTestDatabase();
    await migrate(db.url);
    migrated = await introspect(db.url);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('the migrated database matches schema.prisma', () => {
    const diffs = diffShapes(schema, migrated);
    expect(diffs, report('prisma/schema.prisma and prisma/migrations disagree', diffs)).toEqual([]);
  });

  it('every table but merchants and trusted_documents carries merchant_id, in every primary key and unique index', () => {
    const violations = tenancyViolations(migrated);
    expect(violations, report('tenancy rule broken', violations)).toEqual([]);
  });

  it('keeps the payment-method dedupe index NULLS NOT DISTINCT (hand-added; Prisma cannot express it)', () => {
    const dedupe = migrated.tables
      .get('payment_methods')
      ?.indexes.find((i) => i.kind === 'unique index' && i.columns.join() === 'merchant_id,fingerprint,mode,profile_id,customer_id');
    expect(dedupe?.nullsNotDistinct).toBe(true);
  });

  it('the checker reports database drift', async () => {
    const sabotaged = await createTestDatabase();
    try {
      await migrate(sabotaged.url);
      const client = new pg.Client({ connectionString: sabotaged.url });
      await client.connect();
      try {
        await client.query(`
          ALTER TABLE customers DROP COLUMN email;
          ALTER TABLE api_keys ALTER COLUMN prefix DROP NOT NULL;
          ALTER TABLE merchants ALTER COLUMN name TYPE varchar(100);
          ALTER TABLE data_keys ALTER COLUMN active SET DEFAULT false, ADD COLUMN note TEXT;
          DROP INDEX payment_methods_retain_until_idx;
          ALTER INDEX api_keys_key_hash_idx RENAME TO api_keys_hash_idx;
          ALTER TYPE "CardType" ADD VALUE 'CHARGE';
          ALTER TABLE api_keys DROP CONSTRAINT api_keys_merchant_id_fkey,
            ADD FOREIGN KEY (merchant_id) REFERENCES merchants(id) ON DELETE RESTRICT ON UPDATE CASCADE;
          CREATE TABLE audit_log (id TEXT PRIMARY KEY);`);
      } finally {
        await client.end();
      }
      const actual = await introspect(sabotaged.url);

      expect(diffShapes(schema, actual).sort()).toEqual(
        [
          'enum CardType: value CHARGE not in schema.prisma',
          'merchants.name: type is character varying(100) in the database, text in schema.prisma',
          'api_keys.prefix: nullable in the database, required in schema.prisma',
          'api_keys: index (key_hash) is named api_keys_hash_idx in the database, api_keys_key_hash_idx per schema.prisma',
          'api_keys: foreign key (merchant_id) → merchants is (id) ON DELETE Restrict ON UPDATE Cascade in the database, (id) ON DELETE Cascade ON UPDATE Cascade in schema.prisma',
          'data_keys.active: default is false in the database, true in schema.prisma',
          'data_keys.note: column not in schema.prisma',
          'customers.email: column missing in the database',
          'payment_methods: index (retain_until) missing in the database',
          'table audit_log: not in schema.prisma',
        ].sort(),
      );
      expect(tenancyViolations(actual)).toEqual([
        'audit_log: no merchant_id column',
        'audit_log: primary key audit_log_pkey (id) does not include merchant_id',
      ]);
    } finally {
      await sabotaged.drop();
    }
  });

  it('the checker reports schema changes that no migration made', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vault-schema-'));
    try {
      const edited = (await readFile(SCHEMA_PATH, 'utf8'))
        .replace(/(model Merchant \{\n)/, '$1  website String?\n')
        .replace('@@index([retainUntil])', '@@index([retainUntil, id])');
      await writeFile(path.join(dir, 'schema.prisma'), edited);

      expect(diffShapes(expectedShape(await loadDatamodel(path.join(dir, 'schema.prisma'))), migrated).sort()).toEqual(
        [
          'merchants.website: column missing in the database',
          'payment_methods: index (retain_until, id) missing in the database',
          'payment_methods: index (retain_until) payment_methods_retain_until_idx not in schema.prisma',
        ].sort(),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
