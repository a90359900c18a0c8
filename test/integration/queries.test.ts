import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../../src/app/app.js';
import { createCustomer } from '../../src/domain/customers/customers.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { findPaymentMethod, tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import { createProfile } from '../../src/domain/merchants/profiles.js';
import { FIND_PAYMENT_METHOD, FIND_PAYMENT_METHODS, READ_BATCH_SIZE, READ_SLOT_RELEASE_MS } from '../../src/domain/paymentMethods/store.js';
import { createVaultYoga } from '../../src/http/yoga.js';
import { createTestApp } from '../helpers/db.js';
import { PaymentMethodDocument } from '../../packages/client/src/index.js';
import { clientFor, withLuhn, principalOf } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// Round-trips per operation, counted in-process: a nested list must cost the same number of statements
// for one customer as for many (no N+1), and the hot paths stay at a handful.
// Both executors (VAULT_GRAPHQL_EXECUTOR): graphql-jit once broke Pothos-Prisma's planning here (NOTES-jit.md).
let app: App;
const executors = ['graphql-js', 'jit'] as const;
let yogas: Record<(typeof executors)[number], ReturnType<typeof createVaultYoga>>;
let yoga: ReturnType<typeof createVaultYoga>;
const statements: string[] = [];
beforeAll(async () => {
  app = await createTestApp(inject('databaseUrl'), { db: { poolSize: 4, onQuery: (sql) => statements.push(sql) } });
  yogas = {
    'graphql-js': createVaultYoga({ app, ready: async () => true, executor: 'graphql-js' }),
    jit: createVaultYoga({ app, ready: async () => true, executor: 'jit' }),
  };
});
afterAll(async () => {
  await app.stop();
});

async function count(key: string, query: string, variables?: unknown): Promise<{ statements: number; body: any }> {
  statements.length = 0;
  const res = await yoga.fetch('http://vault.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  return { statements: statements.length, body };
}

async function merchantWith(customers: number, cardsEach: number) {
  const m = await createMerchant(app, { name: 'query counting' });
  const principal = principalOf(m);
  for (let c = 0; c < customers; c++) {
    const customer = await createCustomer(app, principal, { name: `Customer ${c}`, email: `c${c}@example.com` });
    for (let p = 0; p < cardsEach; p++) {
      await tokenizeCard(app, principal, {
        customerId: customer.id,
        card: { number: withLuhn(`4000${c}${p}`.padEnd(15, '7')), expMonth: 5, expYear: EXP_YEAR, holderName: `H${c}${p}` },
      });
    }
  }
  return m;
}

const NESTED = `{ customers(first: 50) { edges { node { id name email defaultBillingAddress { city }
  paymentMethods(first: 10) { edges { node { id fingerprint retainUntil card { bin last4 brand expMonth holderName } billing { email } customer { id } } } } } } } }`;

describe.each(executors)('round-trips with %s', (executor) => {
  beforeAll(() => {
    yoga = yogas[executor];
  });

  it('lists customers with their payment methods and cards in a constant number of statements', async () => {
    const small = await merchantWith(1, 1);
    const large = await merchantWith(6, 3);
    await count(small.secretKey, NESTED); // warm the data-key caches
    await count(large.secretKey, NESTED);
    const one = await count(small.secretKey, NESTED);
    const many = await count(large.secretKey, NESTED);
    expect(one.body.errors).toBeUndefined();
    expect(many.body.data.customers.edges).toHaveLength(6);
    expect(many.body.data.customers.edges[0].node.paymentMethods.edges).toHaveLength(3);
    expect(many.statements).toBe(one.statements);
    expect(many.statements).toBeLessThanOrEqual(4);
  });

  it('reads a payment method masked in two statements (key lookup, row)', async () => {
    const m = await merchantWith(1, 1);
    const pm = await app.db.prisma.paymentMethod.findFirstOrThrow({ where: { merchantId: m.merchantId } });
    const q = `{ paymentMethod(id: "${pm.id}") { id card { last4 expMonth holderName } billing { email } } }`;
    await count(m.secretKey, q);
    const r = await count(m.secretKey, q);
    expect(r.body.data.paymentMethod.card.last4).toBe(pm.last4);
    expect(r.statements).toBe(2);
  });
});

/** A new merchant's principal and one card of it. */
async function merchantWithCard(name: string, number: string) {
  const principal = principalOf(await createMerchant(app, { name }));
  const { paymentMethod } = await tokenizeCard(app, principal, { card: { number: withLuhn(number), expMonth: 5, expYear: EXP_YEAR } });
  return { principal, pm: paymentMethod };
}

type Sql = (text: string, params: unknown[], name?: string) => Promise<unknown[]>;

/**
 * The test app with its database's `sql` replaced (a slow or a stuck database) and VAULT_DB_READ_BATCHES set:
 * a read queue of its own.
 */
const withSql = (sql: Sql, batches = 2): App => ({
  ...app,
  config: { ...app.config, VAULT_DB_READ_BATCHES: batches },
  db: { ...app.db, sql: sql as typeof app.db.sql },
});

describe('masked reads of one turn of the event loop', () => {
  it('go to the database as one statement, each answered for its own tenant and profile', async () => {
    const a = await createMerchant(app, { name: 'batched reads a' });
    const b = await createMerchant(app, { name: 'batched reads b' });
    const second = await createProfile(app, { merchantId: a.merchantId, name: 'second' });
    const card = (n: string) => ({ card: { number: withLuhn(n), expMonth: 5, expYear: EXP_YEAR } });
    const pmA = (await tokenizeCard(app, principalOf(a), card('400000111122223'))).paymentMethod;
    const pmA2 = (await tokenizeCard(app, principalOf(a, { profileScope: second }), card('400000111122224'))).paymentMethod;
    const pmB = (await tokenizeCard(app, principalOf(b), card('400000111122225'))).paymentMethod;

    statements.length = 0;
    const read = (m: typeof a, id: string, scope?: string) => findPaymentMethod(app, principalOf(m, { profileScope: scope }), id);
    const got = await Promise.all([
      read(a, pmA.id),
      read(a, pmB.id), // another merchant's
      read(b, pmB.id),
      read(a, pmA2.id), // every profile
      read(a, pmA2.id, a.defaultProfileId), // another profile's, scoped
      read(a, pmA2.id, second),
      read(a, pmA.id), // the same read twice
      read(a, 'pm_absent'),
      read(a, "pm_'; DROP TABLE payment_methods; --"),
      findPaymentMethod(app, principalOf(a, { mode: 'LIVE' }), pmA.id), // the same id in the other mode
    ]);
    expect(statements).toHaveLength(1);
    expect(got.map((pm) => pm?.id ?? null)).toEqual([pmA.id, null, pmB.id, pmA2.id, null, pmA2.id, pmA.id, null, null, null]);
    // The same payment method read twice: two objects, as two statements would give.
    expect(got[6]).toEqual(got[0]);
    expect(got[6]).not.toBe(got[0]);
    expect(got[0]?.merchantId).toBe(a.merchantId);
    expect(got[2]?.merchantId).toBe(b.merchantId);

    // More than a statement carries: the rest go in a second one.
    statements.length = 0;
    const many = await Promise.all(Array.from({ length: READ_BATCH_SIZE + 1 }, () => read(a, pmA.id)));
    expect(statements).toHaveLength(2);
    expect(new Set(many.map((pm) => pm?.id))).toEqual(new Set([pmA.id]));
  });

  // The test app's pool holds 4 connections: at most 3 batched statements run at once, whatever the setting.
  for (const [batches, slots] of [
    [2, 2],
    [3, 3],
    [8, 3],
  ] as const) {
    it(`wait while VAULT_DB_READ_BATCHES=${batches} (${slots}) statements run, then go together`, async () => {
      const { principal, pm } = await merchantWithCard(
        `batched reads in flight ${batches}`,
        `4000001111222${String(batches).padStart(2, '0')}`,
      );
      // A database that takes 50 ms per statement: reads asked for one per turn of the event loop.
      const slow = withSql(async (text, params, name) => {
        await new Promise((r) => setTimeout(r, 50));
        return app.db.sql(text, params, name);
      }, batches);
      statements.length = 0;
      const reads: Promise<unknown>[] = [];
      for (let i = 0; i < slots + 10; i++) {
        reads.push(findPaymentMethod(slow, principal, pm.id));
        await new Promise((r) => setImmediate(r));
      }
      const rows = (await Promise.all(reads)) as { id: string }[];
      expect(rows.map((row) => row.id)).toEqual(reads.map(() => pm.id));
      // The first ones alone (nothing was in flight), the ten that waited in one statement.
      expect(statements).toHaveLength(slots + 1);
    });
  }

  it('go one statement each with VAULT_DB_READ_BATCHES=0', async () => {
    const { principal, pm } = await merchantWithCard('batched reads off', '400000111122229');
    const unbatched = withSql((text, params, name) => app.db.sql(text, params, name), 0);
    statements.length = 0;
    const rows = await Promise.all(Array.from({ length: 5 }, () => findPaymentMethod(unbatched, principal, pm.id)));
    expect(rows.map((row) => row?.id)).toEqual(Array.from({ length: 5 }, () => pm.id));
    expect(statements).toEqual(Array.from({ length: 5 }, () => FIND_PAYMENT_METHOD.text));
  });

  it('do not wait behind statements that never return', async () => {
    const { principal, pm } = await merchantWithCard('batched reads stuck', '400000111122228');
    // The first statements hang (a connection to a host that vanished without a reset); later ones run.
    let calls = 0;
    const slots = 2;
    const stuck = withSql(
      (text, params, name) => (++calls <= slots ? new Promise(() => undefined) : app.db.sql(text, params, name)),
      slots,
    );
    for (let i = 0; i < slots; i++) {
      void findPaymentMethod(stuck, principal, pm.id);
      await new Promise((r) => setImmediate(r));
    }
    const started = Date.now();
    expect((await findPaymentMethod(stuck, principal, pm.id))?.id).toBe(pm.id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(READ_SLOT_RELEASE_MS - 50);
    // Nor does a statement's worth of reads: it goes beside the stuck ones at once.
    calls = 0;
    for (let i = 0; i < slots; i++) {
      void findPaymentMethod(stuck, principal, pm.id);
      await new Promise((r) => setImmediate(r));
    }
    const full = Promise.all(Array.from({ length: READ_BATCH_SIZE }, () => findPaymentMethod(stuck, principal, pm.id)));
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(slots + 1); // sent at the end of its turn, not a second later
    expect((await full).map((row) => row?.id)).toEqual(Array.from({ length: READ_BATCH_SIZE }, () => pm.id));
  });

  it('a value the database refuses fails its own read only', async () => {
    const { principal, pm } = await merchantWithCard('batched reads refused', '400000111122226');
    // A mode PostgreSQL's enum refuses (22P02) fails the batched statement; each read then runs on its own.
    statements.length = 0;
    const [good, bad] = await Promise.allSettled([
      findPaymentMethod(app, principal, pm.id),
      findPaymentMethod(app, { ...principal, mode: 'BOGUS' as never }, pm.id),
    ]);
    expect(good.status === 'fulfilled' && good.value?.id).toBe(pm.id);
    expect(bad.status).toBe('rejected');
    const kinds = statements.map((s) => (s === FIND_PAYMENT_METHODS.text ? 'together' : s === FIND_PAYMENT_METHOD.text ? 'alone' : s));
    expect(kinds).toEqual(['together', 'alone', 'alone']);
    // An id holding a NUL (which PostgreSQL refuses in text) names nothing and is not sent.
    statements.length = 0;
    const withNul = await Promise.all([findPaymentMethod(app, principal, pm.id), findPaymentMethod(app, principal, `${pm.id}\u0000`)]);
    expect(withNul.map((row) => row?.id ?? null)).toEqual([pm.id, null]);
    expect(statements).toHaveLength(1);
  });
});

describe('batched reads on /metrics', () => {
  it('the server counts how many reads each statement carried (vault_db_read_batch_size)', async () => {
    const m = await createMerchant(app, { name: 'batched reads metrics' });
    const card = { number: withLuhn('400000111122230'), expMonth: 5, expYear: EXP_YEAR };
    const { paymentMethod } = await tokenizeCard(app, principalOf(m), { card });
    const metrics = new URL('/metrics', inject('graphqlUrl'));
    const histogram = async () => {
      const text = await (await fetch(metrics)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
      return { reads: value('vault_db_read_batch_size_sum'), statements: value('vault_db_read_batch_size_count') };
    };
    const before = await histogram();
    const client = clientFor(m.secretKey);
    const read = await Promise.all(Array.from({ length: 20 }, () => client.request(PaymentMethodDocument, { id: paymentMethod.id })));
    expect(read.map((r) => r.paymentMethod?.id)).toEqual(read.map(() => paymentMethod.id));
    const after = await histogram();
    // Other test files read on the same server meanwhile: at least these 20 reads, in at least one statement.
    expect(after.reads - before.reads).toBeGreaterThanOrEqual(20);
    expect(after.statements - before.statements).toBeGreaterThanOrEqual(1);
  });
});
