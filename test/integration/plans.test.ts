import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, PLANNER_OPTIONS } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { refreshStatistics } from '../../src/db/statistics.js';
import { parseMasterKeys } from '../../src/crypto/masterKeys.js';
import { AUTHENTICATE } from '../../src/domain/merchants/store.js';
import {
  FIND_DUPLICATE,
  FIND_DUPLICATE_WITHOUT_CUSTOMER,
  FIND_PAYMENT_METHOD,
  FIND_PAYMENT_METHODS,
  PROBE_CARD,
  PROBE_CARD_WITHOUT_CUSTOMER,
  UPDATE_DUPLICATE,
} from '../../src/domain/paymentMethods/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';

// Every hot statement takes its intended index whether or not statistics exist. Autovacuum is off on these
// machines, and a database right after a restore or an upgrade has no column statistics either: the planner
// then guesses 0.5% per equality, and an index matching two tenant columns (merchant_id, mode) looked as
// selective as the primary key. The masked read of a merchant holding 34,504 cards used the dedupe index and
// filtered all of them on every read (113 req/s instead of 1,400). One merchant with that many cards and
// customers, in three states: never analyzed, vacuumed (row counts, no column statistics: what a restore
// leaves), analyzed. Each statement as a custom and as a generic plan (prepared statements switch to the
// generic one after five executions).

const MERCHANT = 'mer_0123456789abcdefABCDEF';
const PROFILE = 'pro_0123456789abcdefABCDEF';
const CARDS = 34_504;

const TENANTS = `
  INSERT INTO merchants (id, name) VALUES ('${MERCHANT}', 'big'), ('mer_other', 'other');
  INSERT INTO profiles (merchant_id, id, name, is_default) VALUES ('${MERCHANT}', '${PROFILE}', 'default', true), ('mer_other', 'pro_other', 'default', true);`;

/**
 * Rows number `first` to `last` of every table the hot statements read. Realistic widths and random order, as
 * the vault writes them: sequential short ids make the primary key small and well ordered, which hides the
 * problem.
 */
const rowsFrom = (first: number, last: number) => `
  INSERT INTO api_keys (merchant_id, id, kind, mode, key_hash, prefix)
    SELECT '${MERCHANT}', 'key_' || g, 'SECRET', 'TEST', md5(g::text) || md5(g::text), 'sk_test' FROM generate_series(${first}, ${last}) g;
  INSERT INTO customers (merchant_id, profile_id, id, mode, name, created_at, updated_at)
    SELECT '${MERCHANT}', '${PROFILE}', 'cus_' || substr(md5('c' || g), 1, 22), CASE WHEN g % 10 = 0 THEN 'LIVE' ELSE 'TEST' END::"Mode",
      repeat('x', 80), now() - g * interval '1 second', now() FROM generate_series(${first}, ${last}) g;
  INSERT INTO payment_methods (merchant_id, profile_id, id, mode, customer_id, type, fingerprint, card_number, card_expiry, holder_name, bin, last4, brand, retain_until, created_at, updated_at)
    SELECT '${MERCHANT}', '${PROFILE}', 'pm_' || substr(md5('p' || g), 1, 22), 'TEST',
      CASE WHEN g % 2 = 0 THEN 'cus_' || substr(md5('c' || (g / 2)), 1, 22) END,
      'CARD', substr(md5('f' || g) || md5('g' || g), 1, 43), repeat('x', 120), repeat('x', 90), repeat('x', 80),
      '424242', lpad((g % 10000)::text, 4, '0'), 'VISA', now() + interval '2 years', now() - g * interval '1 second', now()
    FROM generate_series(${first}, ${last}) g WHERE g % 2 = 1 OR (g / 2) % 10 <> 0;
  INSERT INTO card_tokens (merchant_id, profile_id, id, mode, card_number, card_expiry, bin, last4, brand, expires_at)
    SELECT '${MERCHANT}', '${PROFILE}', 'tok_' || substr(md5('t' || g), 1, 22), 'TEST', 'x', 'x', '424242', '4242', 'VISA', now() + interval '30 minutes'
    FROM generate_series(${first}, ${last}) g;
  INSERT INTO payments (merchant_id, profile_id, id, mode, amount, currency, status, capture_method, initiator, bin, last4, brand, card_expiry, connector_id, created_at, updated_at)
    SELECT '${MERCHANT}', '${PROFILE}', 'pay_' || substr(md5('y' || g), 1, 22), 'TEST', 1000, 'EUR', 'COMPLETED', 'AUTOMATIC', 'CUSTOMER', '424242', '4242', 'VISA', repeat('x', 90), 'sandbox', now(), now()
    FROM generate_series(${first}, ${last}) g;
  INSERT INTO card_probes (merchant_id, group_tag, member_tag, key_id, expires_at)
    SELECT '${MERCHANT}', md5('g' || (g % 3000)), md5('m' || g), 'key_1', now() + interval '1 day' FROM generate_series(${first}, ${last}) g;`;

let db: TestDatabase;
let client: pg.Client;
let sample: { pm: string; fp: string; customer: string; pmOfCustomer: string; fpOfCustomer: string; token: string; payment: string };

beforeAll(async () => {
  db = await createTestDatabase();
  await migrate(db.url);
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(TENANTS);
  await client.query(rowsFrom(1, CARDS));
  const one = async (sql: string) => (await client.query(sql)).rows[0];
  const pm = await one(`SELECT id, fingerprint FROM payment_methods WHERE customer_id IS NULL LIMIT 1 OFFSET 777`);
  const withCustomer = await one(
    `SELECT id, fingerprint, customer_id FROM payment_methods WHERE customer_id IS NOT NULL LIMIT 1 OFFSET 777`,
  );
  sample = {
    pm: pm.id,
    fp: pm.fingerprint,
    customer: withCustomer.customer_id,
    pmOfCustomer: withCustomer.id,
    fpOfCustomer: withCustomer.fingerprint,
    token: (await one(`SELECT id FROM card_tokens LIMIT 1 OFFSET 77`)).id,
    payment: (await one(`SELECT id FROM payments LIMIT 1 OFFSET 77`)).id,
  };
}, 120_000);

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

interface PlanNode {
  'Node Type': string;
  'Parent Relationship'?: string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Rows Removed by Filter'?: number;
  'Index Cond'?: string;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** The scans of `table` in a plan. */
function scansOf(node: PlanNode, table: string): PlanNode[] {
  const own = node['Relation Name'] === table && node['Node Type'].endsWith('Scan') ? [node] : [];
  return [...own, ...(node.Plans ?? []).flatMap((p) => scansOf(p, table))];
}

interface Case {
  name: string;
  text: string;
  params: () => unknown[];
  /** The table and the index every scan of it must use (or one of them, when several are exact). */
  table: string;
  index: string | string[];
  /** Rows the scan may read and throw away (a customer's other cards, say). */
  maxFiltered?: number;
  write?: boolean;
}

const DEDUPE_INDEX = 'payment_methods_dedupe_key';

const CASES: Case[] = [
  { name: 'api key lookup', text: AUTHENTICATE.text, params: () => ['abc'], table: 'api_keys', index: 'api_keys_key_hash_idx' },
  {
    name: 'masked read',
    text: FIND_PAYMENT_METHOD.text,
    params: () => [MERCHANT, 'TEST', sample.pm, null],
    table: 'payment_methods',
    index: 'payment_methods_pkey',
  },
  {
    name: 'masked read in one profile',
    text: FIND_PAYMENT_METHOD.text,
    params: () => [MERCHANT, 'TEST', sample.pm, PROFILE],
    table: 'payment_methods',
    index: 'payment_methods_pkey',
  },
  {
    // Reads of one turn of the event loop, of two merchants, scoped and not: a primary-key lookup per element.
    name: 'masked reads together',
    text: FIND_PAYMENT_METHODS.text,
    params: () => [
      `{${MERCHANT},${MERCHANT},mer_other}`,
      '{TEST,TEST,TEST}',
      `{${sample.pm},${sample.pmOfCustomer},${sample.pm}}`,
      `{NULL,${PROFILE},NULL}`,
    ],
    table: 'payment_methods',
    index: 'payment_methods_pkey',
  },
  {
    name: 'duplicate lookup without a customer',
    text: FIND_DUPLICATE_WITHOUT_CUSTOMER.text,
    params: () => [MERCHANT, 'TEST', sample.fp, PROFILE],
    table: 'payment_methods',
    index: DEDUPE_INDEX,
  },
  {
    name: 'duplicate lookup for a customer',
    text: FIND_DUPLICATE.text,
    params: () => [MERCHANT, 'TEST', sample.fpOfCustomer, PROFILE, sample.customer],
    table: 'payment_methods',
    index: DEDUPE_INDEX,
  },
  {
    name: 'duplicate update',
    text: UPDATE_DUPLICATE.text,
    params: () => [MERCHANT, 'TEST', sample.pm, 'x', null, new Date(), new Date(), 0, 'aud_x', 'key_1', 'req', '{}', '{}', 'evt_x'],
    table: 'payment_methods',
    index: 'payment_methods_pkey',
    write: true,
  },
  ...[false, true].map(
    (withCustomer): Case => ({
      name: `enumeration probe ${withCustomer ? 'for a customer' : 'without a customer'}`,
      text: withCustomer ? PROBE_CARD.text : PROBE_CARD_WITHOUT_CUSTOMER.text,
      params: () => [
        MERCHANT,
        'TEST',
        withCustomer ? sample.fpOfCustomer : sample.fp,
        md5('g1'),
        md5('m1'),
        md5('g2'),
        md5('m2'),
        'key_1',
        new Date(),
        new Date(Date.now() + 86_400_000),
        20,
        10_000,
        PROFILE,
        ...(withCustomer ? [sample.customer] : []),
      ],
      table: 'payment_methods',
      index: DEDUPE_INDEX,
      write: true,
    }),
  ),
  {
    name: 'enumeration counters',
    text: PROBE_CARD_WITHOUT_CUSTOMER.text,
    params: () => [
      MERCHANT,
      'TEST',
      'nofp',
      md5('g5'),
      md5('m5'),
      md5('g6'),
      md5('m6'),
      'key_1',
      new Date(),
      new Date(Date.now() + 86_400_000),
      20,
      0,
      PROFILE,
    ],
    table: 'card_probes',
    index: 'card_probes_pkey',
    write: true,
  },
  {
    name: 'customer lookup',
    text: `SELECT id FROM customers WHERE merchant_id = $1 AND mode = $2::"Mode" AND id = $3`,
    params: () => [MERCHANT, 'TEST', sample.customer],
    table: 'customers',
    index: 'customers_pkey',
  },
  {
    name: 'customer lookup in one profile',
    text: `SELECT id FROM customers WHERE merchant_id = $1 AND mode = $2::"Mode" AND id = $3 AND profile_id = $4`,
    params: () => [MERCHANT, 'TEST', sample.customer, PROFILE],
    table: 'customers',
    index: 'customers_pkey',
  },
  {
    name: "a customer's cards, newest first",
    text: `SELECT id FROM payment_methods WHERE merchant_id = $1 AND mode = $2::"Mode" AND customer_id = $3 ORDER BY created_at DESC, id DESC LIMIT 11`,
    params: () => [MERCHANT, 'TEST', sample.customer],
    table: 'payment_methods',
    index: 'payment_methods_merchant_id_customer_id_created_at_id_idx',
  },
  {
    name: 'card token lookup',
    text: `SELECT id FROM card_tokens WHERE merchant_id = $1 AND mode = $2::"Mode" AND id = $3`,
    params: () => [MERCHANT, 'TEST', sample.token],
    table: 'card_tokens',
    index: 'card_tokens_pkey',
  },
  {
    name: 'payment lookup',
    text: `SELECT id FROM payments WHERE merchant_id = $1 AND mode = $2::"Mode" AND id = $3`,
    params: () => [MERCHANT, 'TEST', sample.payment],
    table: 'payments',
    // Both are exact: the primary key, or the index on the id alone (payments are also found by id).
    index: ['payments_pkey', 'payments_id_idx'],
  },
];

/** The index a scan reads: its own, or for a bitmap heap scan the one its bitmap index scan reads. */
function indexOf(scan: PlanNode): string {
  if (scan['Node Type'] === 'Bitmap Heap Scan') {
    // Its bitmap's scans, not the subqueries of its select list (the key lookup's default profile).
    const bitmap = (scan.Plans ?? []).filter((p) => p['Parent Relationship'] !== 'SubPlan');
    return bitmap.map((p) => p['Index Name'] ?? p['Node Type']).join(' + ');
  }
  return scan['Index Name'] ?? scan['Node Type'];
}

/**
 * An index scan must look keys up: one without an Index Cond reads the whole index (the plain join of the
 * batched read was planned so on small tables, a hash or merge join over every merchant's rows), which the
 * index's name alone does not show.
 */
function expectLookup(scan: PlanNode, what: string): void {
  if (scan['Node Type'] === 'Index Scan' || scan['Node Type'] === 'Index Only Scan')
    expect(scan['Index Cond'], `${what}: an index scan without a condition`).toBeDefined();
  for (const child of scan['Node Type'] === 'Bitmap Heap Scan' ? (scan.Plans ?? []) : [])
    if (child['Node Type'] === 'Bitmap Index Scan') expect(child['Index Cond'], `${what}: a bitmap scan without a condition`).toBeDefined();
}

function md5(s: string): string {
  return s.padEnd(32, '0');
}

/** The plan of one execution of `c` (rolled back when it writes), as custom or generic plan. */
async function planOf(c: Case, mode: 'force_custom_plan' | 'force_generic_plan'): Promise<PlanNode> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL plan_cache_mode = ${mode}`);
    await client.query(`PREPARE hot AS ${c.text}`);
    const params = c.params().map((p) => (p === null ? 'NULL' : pg.escapeLiteral(p instanceof Date ? p.toISOString() : String(p))));
    const { rows } = await client.query(`EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) EXECUTE hot(${params.join(', ')})`);
    return rows[0]['QUERY PLAN'][0].Plan as PlanNode;
  } finally {
    await client.query('ROLLBACK');
    await client.query('DEALLOCATE ALL');
  }
}

async function expectIntendedPlans(): Promise<void> {
  for (const c of CASES) {
    for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
      const plan = await planOf(c, mode);
      const scans = scansOf(plan, c.table);
      expect(scans.length, `${c.name} (${mode}) scans ${c.table}`).toBeGreaterThan(0);
      for (const scan of scans) {
        const used = indexOf(scan);
        const intended = Array.isArray(c.index) ? (c.index.includes(used) ? used : c.index.join(' or ')) : c.index;
        expect({ statement: c.name, mode, index: used }).toEqual({ statement: c.name, mode, index: intended });
        expect(scan['Rows Removed by Filter'] ?? 0, `${c.name} (${mode}) filtered rows`).toBeLessThanOrEqual(c.maxFiltered ?? 0);
        expectLookup(scan, `${c.name} (${mode})`);
      }
    }
  }
}

describe('hot statements plan the same with or without statistics', () => {
  it('before any statistics exist', async () => {
    const { rows } = await client.query(`SELECT reltuples FROM pg_class WHERE relname = 'payment_methods'`);
    expect(rows[0].reltuples).toBe(-1);
    await expectIntendedPlans();
  });

  it('with row counts but no column statistics (as a restore leaves it)', async () => {
    await client.query('VACUUM');
    await expectIntendedPlans();
  });

  it('with statistics', async () => {
    await client.query('ANALYZE');
    await expectIntendedPlans();
  });
});

describe('plans made while the tables were small', () => {
  // A pooled connection plans each named statement once (the generic plan, after five executions) and keeps
  // that plan until statistics change. With autovacuum off, statistics gathered while the tables held a row
  // (an ANALYZE of a young vault) never change again: a plan made then, a sequential scan or whichever index
  // ties on a one-page table, went on being used once the table had grown (tokenize fell from ~250 to under
  // 60 req/s at 9,000 cards, reading every card of the merchant per duplicate check). ADR 0030: the vault's
  // sessions never plan a sequential scan where an index serves, the tenant columns never look selective, and
  // the server's sweep analyzes tables that grew, which makes every session plan again.
  it("are index plans at once, and the intended ones after the sweep's statistics refresh", async () => {
    const small = await createTestDatabase();
    const vault = createDb(small.url, parseMasterKeys(TEST_MASTER_KEYS), { poolSize: 2 });
    // Writing as the vault's sessions do: its foreign-key checks are plans cached on the first row too.
    const writer = new pg.Client({ connectionString: small.url, options: PLANNER_OPTIONS });
    try {
      await migrate(small.url);
      await writer.connect();
      await writer.query(TENANTS);
      await writer.query(rowsFrom(1, 1));
      await writer.query('ANALYZE');
      const session = await vault.pool.connect();
      const plans = async () => {
        const out: { c: Case; scans: PlanNode[] }[] = [];
        for (const [i, c] of CASES.entries()) {
          const params = c.params().map((p) => (p === null ? 'NULL' : pg.escapeLiteral(p instanceof Date ? p.toISOString() : String(p))));
          // Run (and rolled back), so that rows read and thrown away are counted.
          await session.query('BEGIN');
          try {
            const { rows } = await session.query(`EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) EXECUTE hot_${i}(${params.join(', ')})`);
            out.push({ c, scans: scansOf(rows[0]['QUERY PLAN'][0].Plan as PlanNode, c.table) });
          } finally {
            await session.query('ROLLBACK');
          }
        }
        return out;
      };
      try {
        await session.query('SET plan_cache_mode = force_generic_plan');
        for (const [i, c] of CASES.entries()) await session.query(`PREPARE hot_${i} AS ${c.text}`);
        await plans(); // made now, on tables of one row, and kept
        // The tables grow; nothing tells the session's plans (no ANALYZE, no DDL).
        await writer.query(rowsFrom(2, CARDS));
        for (const { c, scans } of await plans()) {
          expect(scans.length, `${c.name} scans ${c.table}`).toBeGreaterThan(0);
          for (const scan of scans) {
            expect({ statement: c.name, index: indexOf(scan) }).not.toEqual({ statement: c.name, index: 'Seq Scan' });
            expectLookup(scan, c.name);
          }
        }
        // The sweep's refresh (its counters reach the statistics system within a second or so).
        let analyzed: string[] = [];
        for (let i = 0; i < 100 && !analyzed.includes('payment_methods'); i++) {
          analyzed = [...analyzed, ...(await refreshStatistics(vault.pool))];
          if (!analyzed.includes('payment_methods')) await new Promise((r) => setTimeout(r, 100));
        }
        expect(analyzed).toEqual(expect.arrayContaining(['payment_methods', 'card_probes', 'customers', 'api_keys']));
        expect(await refreshStatistics(vault.pool)).toEqual([]);
        for (const { c, scans } of await plans()) {
          expect(scans.length, `${c.name} scans ${c.table}`).toBeGreaterThan(0);
          for (const scan of scans) {
            const used = indexOf(scan);
            const intended = Array.isArray(c.index) ? (c.index.includes(used) ? used : c.index.join(' or ')) : c.index;
            expect({ statement: c.name, index: used }).toEqual({ statement: c.name, index: intended });
            expect(scan['Rows Removed by Filter'] ?? 0, `${c.name} filtered rows`).toBeLessThanOrEqual(c.maxFiltered ?? 0);
            expectLookup(scan, c.name);
          }
        }
      } finally {
        session.release(true);
      }
    } finally {
      await writer.end();
      await vault.disconnect();
      await small.drop();
    }
  }, 180_000);
});
