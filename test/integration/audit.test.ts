import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuditEventsDocument,
  CancelPaymentDocument,
  CapturePaymentDocument,
  CreateCardTokenDocument,
  CreateCustomerDocument,
  CreatePaymentDocument,
  DeleteCustomerDocument,
  DeletePaymentMethodDocument,
  ExtendRetentionDocument,
  TokenizeCardDocument,
  UpdateCustomerDocument,
  UpdatePaymentMethodDocument,
} from '../../packages/client/src/index.js';
import type { App } from '../../src/app/app.js';
import type { Db } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { appendAudit, verifyAuditChain, type AuditActor } from '../../src/domain/audit/audit.js';
import { createAuditSealer, sealAuditNow } from '../../src/domain/audit/sealer.js';
import { createCustomer } from '../../src/domain/customers/customers.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { purgeExpired, tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import type { Principal } from '../../src/domain/shared/principal.js';
import { createTestApp, createTestDatabase, querySql, type TestDatabase } from '../helpers/db.js';
import { rechainSql } from '../helpers/audit.js';
import {
  clientFor,
  newMerchant,
  rawGraphQL,
  success,
  uniqueVisa,
  testApp,
  useDatabase,
  type TestMerchant,
  principalOf,
} from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { serverEnv, startVaultServer, stopProcess } from '../helpers/serverProcess.js';

// The shared test database for the API tests (the last describe builds an app on a database of its own).
useDatabase();

// Every change is audited in its own transaction. The API tests run against the shared server; the ones
// that sabotage the database or drive the purge use a database of their own.

async function events(m: TestMerchant, first = 100) {
  return (await m.client.request(AuditEventsDocument, { first })).auditEvents.edges.map((e) => e.node);
}

describe('the audit trail through the API', () => {
  it('records every change of a merchant flow with the key and the request id, newest first', async () => {
    const m = await newMerchant();
    const rid = (step: string) => ({ 'x-request-id': `audit-${step}` });
    const customer = success(
      (await m.client.request(CreateCustomerDocument, { input: { name: 'Audited' } }, rid('c1'))).createCustomer,
      'CreateCustomerSuccess',
    ).customer;
    success(
      (await m.client.request(UpdateCustomerDocument, { id: customer.id, input: { name: 'Audited 2' } }, rid('c2'))).updateCustomer,
      'UpdateCustomerSuccess',
    );
    const number = uniqueVisa();
    const card = { number, expMonth: 4, expYear: EXP_YEAR };
    const pm = success(
      (await m.client.request(TokenizeCardDocument, { input: { customerId: customer.id, card } }, rid('p1'))).tokenizeCard,
      'TokenizeCardSuccess',
    ).paymentMethod;
    success(
      (await m.client.request(TokenizeCardDocument, { input: { customerId: customer.id, card } }, rid('p2'))).tokenizeCard,
      'TokenizeCardSuccess',
    );
    success(
      (await m.client.request(UpdatePaymentMethodDocument, { id: pm.id, input: { nickName: 'Work' } }, rid('p3'))).updatePaymentMethod,
      'UpdatePaymentMethodSuccess',
    );
    success(
      (await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 3 }, rid('p4'))).extendRetention,
      'ExtendRetentionSuccess',
    );
    const token = success(
      (await clientFor(m.publishableKey).request(CreateCardTokenDocument, { input: { card } }, rid('t1'))).createCardToken,
      'CreateCardTokenSuccess',
    ).token;
    const held = success(
      (
        await m.client.request(
          CreatePaymentDocument,
          { input: { amount: 900, currency: 'EUR', paymentMethodId: pm.id, captureMethod: 'MANUAL' } },
          rid('y1'),
        )
      ).createPayment,
      'CreatePaymentSuccess',
    ).payment;
    success(
      (await m.client.request(CapturePaymentDocument, { id: held.id, amount: 500 }, rid('y2'))).capturePayment,
      'CapturePaymentSuccess',
    );
    const second = success(
      (
        await m.client.request(
          CreatePaymentDocument,
          { input: { amount: 100, currency: 'EUR', token: token.id, captureMethod: 'MANUAL' } },
          rid('y3'),
        )
      ).createPayment,
      'CreatePaymentSuccess',
    ).payment;
    success((await m.client.request(CancelPaymentDocument, { id: second.id }, rid('y4'))).cancelPayment, 'CancelPaymentSuccess');
    success(
      (await m.client.request(DeletePaymentMethodDocument, { id: pm.id }, rid('p5'))).deletePaymentMethod,
      'DeletePaymentMethodSuccess',
    );
    success((await m.client.request(DeleteCustomerDocument, { id: customer.id }, rid('c3'))).deleteCustomer, 'DeleteCustomerSuccess');
    // A refused mutation changes nothing and records nothing.
    const refused = await m.client.request(
      TokenizeCardDocument,
      { input: { card: { number: '4242424242424241', expMonth: 1, expYear: EXP_YEAR } } },
      rid('bad'),
    );
    expect(refused.tokenizeCard.__typename).toBe('ValidationError');

    const trail = (await events(m)).filter((e) => e.requestId.startsWith('audit-'));
    expect(trail.map((e) => [e.action, e.requestId, e.entityId])).toEqual(
      [
        ['customer.create', 'audit-c1', customer.id],
        ['customer.update', 'audit-c2', customer.id],
        ['payment_method.create', 'audit-p1', pm.id],
        ['payment_method.update', 'audit-p2', pm.id],
        ['payment_method.update', 'audit-p3', pm.id],
        ['payment_method.extend_retention', 'audit-p4', pm.id],
        ['card_token.create', 'audit-t1', token.id],
        ['payment.create', 'audit-y1', held.id],
        ['payment.capture', 'audit-y2', held.id],
        ['payment.create', 'audit-y3', second.id],
        ['payment.cancel', 'audit-y4', second.id],
        ['payment_method.delete', 'audit-p5', pm.id],
        ['customer.delete', 'audit-c3', customer.id],
      ].reverse(),
    );
    expect(trail.every((e) => e.outcome === 'success')).toBe(true);
    expect(new Set(trail.filter((e) => e.action !== 'card_token.create').map((e) => e.keyId)).size).toBe(1);
    expect(JSON.stringify(trail)).not.toContain(number);
    // The merchant's creation and its keys come first, by the operator.
    expect((await events(m)).slice(-3).map((e) => [e.action, e.keyId])).toEqual([
      ['api_key.create', 'cli'],
      ['api_key.create', 'cli'],
      ['merchant.create', 'cli'],
    ]);
  });

  it("keeps one gapless chain per merchant under concurrent writes, and shows a key only its merchant's events", async () => {
    const m = await newMerchant();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => m.client.request(CreateCustomerDocument, { input: { name: `Concurrent ${i}` } })),
    );
    expect((await events(m)).filter((e) => e.action === 'customer.create')).toHaveLength(20);
    // Linked by the server's sealer within a second; sealing here too makes it now (callers take turns).
    await sealAuditNow(testApp());
    expect(await verifyAuditChain(testApp(), m.merchantId)).toEqual({ merchants: 1, events: 23, unsealed: 0 });
    // Sealed events show the hash of their link.
    const hashes = await rawGraphQL({ query: '{ auditEvents(first: 5) { edges { node { hash } } } }' }, { 'api-key': m.secretKey });
    expect(hashes.json.data.auditEvents.edges.map((e: { node: { hash: string } }) => e.node.hash)).toEqual(
      Array.from({ length: 5 }, () => expect.stringMatching(/^[0-9a-f]{64}$/)),
    );

    const stranger = await newMerchant();
    const theirs = await events(stranger);
    expect(theirs.every((e) => !['customer.create'].includes(e.action))).toBe(true);
    // A live key of the same merchant sees merchant-wide events, not test-mode ones.
    const live = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'LIVE' });
    const liveEvents = (await clientFor(live.key).request(AuditEventsDocument, { first: 100 })).auditEvents.edges.map((e) => e.node.action);
    expect(liveEvents).toContain('merchant.create');
    expect(liveEvents).not.toContain('customer.create');
  });
});

describe('the audit trail in the same transaction as the change', () => {
  let database: TestDatabase;
  let app: App;
  let db: Db;
  let principal: Principal;
  beforeAll(async () => {
    database = await createTestDatabase();
    await migrate(database.url);
    app = await createTestApp(database.url);
    db = app.db;
    const m = await createMerchant(app, { name: 'Same transaction' });
    principal = principalOf(m, { keyId: 'key_tx', requestId: 'req-tx' });
  });
  afterAll(async () => {
    await app.stop();
    await database.drop();
  });

  it('audits the retention purge of every payment method', async () => {
    const pm = await tokenizeCard(app, principal, { card: { number: uniqueVisa(), expMonth: 1, expYear: EXP_YEAR } });
    await db.prisma.paymentMethod.updateMany({ where: { id: pm.paymentMethod.id }, data: { retainUntil: new Date(Date.now() - 1000) } });
    expect(await purgeExpired(app)).toBe(1);
    const purge = await db.prisma.auditEvent.findMany({ where: { entityId: pm.paymentMethod.id }, orderBy: { position: 'asc' } });
    expect(purge.map((e) => [e.action, e.keyId])).toEqual([
      ['payment_method.create', 'key_tx'],
      ['payment_method.purge', 'system:retention'],
    ]);
  });

  it('rolls the change back when its audit event cannot be written', async () => {
    const before = await db.prisma.customer.count();
    await db.prisma.$executeRawUnsafe(`ALTER FUNCTION audit_append RENAME TO audit_append_saved`);
    try {
      await expect(createCustomer(app, principal, { name: 'Unaudited' })).rejects.toThrow();
      await expect(tokenizeCard(app, principal, { card: { number: uniqueVisa(), expMonth: 1, expYear: EXP_YEAR } })).rejects.toThrow();
    } finally {
      await db.prisma.$executeRawUnsafe(`ALTER FUNCTION audit_append_saved RENAME TO audit_append`);
    }
    expect(await db.prisma.customer.count()).toBe(before);
    expect(await db.prisma.paymentMethod.count({ where: { merchantId: principal.merchantId } })).toBe(0);
    expect((await verifyAuditChain(app)).firstBad).toBeUndefined();
  });
});

describe('sealing: appends never wait on each other, one elected sealer links them', () => {
  let database: TestDatabase;
  let app: App;
  let actor: AuditActor;
  const entry = (n: number) => ({ action: 'customer.note', entityType: 'customer', entityId: `cus_${n}`, outcome: 'success' as const });
  const links = (merchantId = actor.merchantId) => app.db.prisma.auditLink.findMany({ where: { merchantId }, orderBy: { seq: 'asc' } });
  /** Runs `fn` with the triggers off (as someone able to write the tables could). */
  const bypass = (...statements: string[]) =>
    app.db.prisma.$transaction([
      app.db.prisma.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`),
      ...statements.map((s) => app.db.prisma.$executeRawUnsafe(s)),
    ]);

  beforeAll(async () => {
    database = await createTestDatabase();
    await migrate(database.url);
    app = await createTestApp(database.url, { db: { poolSize: 4 } });
    const m = await createMerchant(app, { name: 'Sealed' });
    actor = { merchantId: m.merchantId, mode: 'TEST', keyId: 'key_seal', requestId: 'req-seal' };
  });
  afterAll(async () => {
    await app.stop();
    await database.drop();
  });

  it("lets a merchant's second write commit while its first is still open, and seals both, the later-committed first in position order", async () => {
    await sealAuditNow(app);
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((r) => (releaseFirst = r));
    let firstAppended!: (position: bigint) => void;
    const firstPosition = new Promise<bigint>((r) => (firstAppended = r));
    let firstDone = false;
    // The first transaction appends (drawing the lower position) and stays open.
    const first = app.db.prisma
      .$transaction(async (tx) => {
        const e = await appendAudit(tx, actor, entry(1));
        firstAppended(e.position);
        await firstMayCommit;
        return e;
      })
      .finally(() => (firstDone = true));
    const lower = await firstPosition;
    // The second, same merchant, appends and commits while the first is open: it waits on nothing.
    const second = await app.db.prisma.$transaction((tx) => appendAudit(tx, actor, entry(2)));
    expect(firstDone).toBe(false);
    expect(second.position).toBeGreaterThan(lower);

    // The sealer does not step over the open transaction's lower position: nothing after it is linked yet.
    expect(await sealAuditNow(app, 20)).toBe(0);
    expect((await links()).map((l) => l.position)).not.toContain(second.position);
    expect((await verifyAuditChain(app, actor.merchantId)).unsealed).toBe(1);

    // Once the first commits, both are linked, the first (committed last) before the second.
    releaseFirst();
    const e1 = await first;
    expect(await sealAuditNow(app)).toBe(2);
    const chain = await links();
    expect(chain.slice(-2).map((l) => l.position)).toEqual([e1.position, second.position]);
    expect(await verifyAuditChain(app, actor.merchantId)).toMatchObject({ unsealed: 0 });
    expect((await verifyAuditChain(app, actor.merchantId)).firstBad).toBeUndefined();
  });

  it('never links an event whose transaction rolled back, and leaves no gap for it', async () => {
    await expect(
      app.db.prisma.$transaction(async (tx) => {
        await appendAudit(tx, actor, entry(3));
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await appendAudit(app.db.prisma, actor, entry(4));
    expect(await sealAuditNow(app)).toBe(1);
    expect(await verifyAuditChain(app, actor.merchantId)).toMatchObject({ unsealed: 0 });
    expect((await verifyAuditChain(app)).firstBad).toBeUndefined();
  });

  it('fails verify on an event left unsealed for more than a minute', async () => {
    const m = await createMerchant(app, { name: 'Unsealed' });
    await sealAuditNow(app);
    const e = await appendAudit(app.db.prisma, { ...actor, merchantId: m.merchantId }, entry(5));
    expect(await verifyAuditChain(app, m.merchantId)).toMatchObject({ unsealed: 1 });
    expect((await verifyAuditChain(app, m.merchantId)).firstBad).toBeUndefined();
    const later = new Date(Date.now() + 61_000);
    expect((await verifyAuditChain(app, m.merchantId, { now: later })).firstBad).toMatchObject({
      merchantId: m.merchantId,
      id: e.id,
      seq: null,
      problem: expect.stringMatching(/unsealed.*more than a minute/),
    });
    await sealAuditNow(app);
    expect((await verifyAuditChain(app, m.merchantId, { now: later })).firstBad).toBeUndefined();
  });

  it('fails verify on an altered, removed, inserted or reordered event', async () => {
    for (let i = 0; i < 4; i++) await appendAudit(app.db.prisma, actor, entry(10 + i));
    await sealAuditNow(app);
    const chain = await links();
    const at = (i: number) => chain[chain.length - 4 + i]!;
    const verify = async () => (await verifyAuditChain(app, actor.merchantId)).firstBad;
    const m = actor.merchantId;
    expect(await verify()).toBeUndefined();

    // Altered: the event's content no longer matches its link.
    await bypass(`UPDATE audit_events SET outcome = 'denied' WHERE merchant_id = '${m}' AND position = ${at(1).position}`);
    expect(await verify()).toMatchObject({ seq: at(1).seq, problem: expect.stringMatching(/altered/) });
    await bypass(`UPDATE audit_events SET outcome = 'success' WHERE merchant_id = '${m}' AND position = ${at(1).position}`);
    expect(await verify()).toBeUndefined();

    // Reordered: two events swap places and every hash is recomputed, so links and hashes are consistent;
    // the chain is no longer in the order the sealer links events in.
    const swap = (x: bigint, y: bigint) => [
      `UPDATE audit_links SET position = -1 WHERE merchant_id = '${m}' AND seq = ${at(1).seq}`,
      `UPDATE audit_links SET position = ${y} WHERE merchant_id = '${m}' AND seq = ${at(2).seq}`,
      `UPDATE audit_links SET position = ${x} WHERE merchant_id = '${m}' AND seq = ${at(1).seq}`,
      rechainSql(m),
    ];
    await bypass(...swap(at(2).position, at(1).position));
    expect(await verify()).toMatchObject({ seq: at(2).seq, problem: expect.stringMatching(/reordered/) });
    await bypass(...swap(at(1).position, at(2).position));
    expect(await verify()).toBeUndefined();

    // Inserted: an event slipped in between two links; the next one no longer links to its predecessor.
    await bypass(
      `UPDATE audit_links SET seq = seq + 1000000 WHERE merchant_id = '${m}' AND seq > ${at(1).seq}`,
      `UPDATE audit_links SET seq = seq - 1000000 + 1 WHERE merchant_id = '${m}' AND seq > 1000000`,
      `INSERT INTO audit_events (merchant_id, position, id, action, entity_type, key_id, request_id, outcome, at)
         VALUES ('${m}', ${at(1).position} + 1000000, 'aud_forged', 'customer.note', 'customer', 'key_seal', 'req-forged', 'success', now())`,
      `INSERT INTO audit_links (merchant_id, seq, position, prev_hash, hash)
         SELECT '${m}', ${at(1).seq} + 1, e.position, '${at(1).hash}', audit_event_hash(e, ${at(1).seq} + 1, '${at(1).hash}')
           FROM audit_events e WHERE e.id = 'aud_forged'`,
    );
    expect(await verify()).toMatchObject({ seq: at(2).seq + 1n, problem: expect.stringMatching(/does not link/) });

    // Removed: the forged event and its link go, and one of the real ones too: a gap.
    await bypass(
      `DELETE FROM audit_links WHERE merchant_id = '${m}' AND seq IN (${at(1).seq} + 1, ${at(1).seq} + 2)`,
      `DELETE FROM audit_events WHERE id = 'aud_forged' OR (merchant_id = '${m}' AND position = ${at(2).position})`,
    );
    expect(await verify()).toMatchObject({ seq: at(3).seq + 1n, problem: expect.stringMatching(/missing/) });
  });

  it('elects one sealer among many; when its connection closes another takes over', async () => {
    const db = await createTestDatabase();
    await migrate(db.url);
    const other = await createTestApp(db.url);
    const sealerOf = (a: App) => createAuditSealer({ databaseUrl: db.url, pool: a.db.pool, embedded: false, log: a.log });
    const a = sealerOf(other);
    const b = sealerOf(other);
    try {
      const m = await createMerchant(other, { name: 'Elected' });
      expect(await a.tick()).toBeGreaterThan(0); // merchant.create and its keys
      expect(a.leader).toBe(true);
      await appendAudit(other.db.prisma, { ...actor, merchantId: m.merchantId }, entry(20));
      expect(await b.tick()).toBe(0);
      expect(b.leader).toBe(false);
      expect(await a.tick()).toBe(1);

      // The leader's process goes away: its connection closes, and the lock with it.
      await a.close();
      await appendAudit(other.db.prisma, { ...actor, merchantId: m.merchantId }, entry(21));
      expect(await b.tick()).toBe(1);
      expect(b.leader).toBe(true);
      expect(await verifyAuditChain(other)).toMatchObject({ unsealed: 0 });
      expect((await verifyAuditChain(other)).firstBad).toBeUndefined();
    } finally {
      await a.close();
      await b.close();
      await other.stop();
      await db.drop();
    }
  });
});

describe('a chain sealed under the per-merchant lock, migrated', () => {
  it('keeps its seq and hashes, continues from its last event, and verifies', async () => {
    const db = await createTestDatabase();
    const dir = mkdtempSync(path.join(tmpdir(), 'vault-migrations-'));
    try {
      // The migrations before the sealer: events appended the old way, each chained under the lock.
      const all = path.join(process.cwd(), 'prisma', 'migrations');
      for (const name of readdirSync(all)) {
        if (name < '20261201010000') cpSync(path.join(all, name), path.join(dir, name), { recursive: true });
      }
      cpSync(path.join(all, 'migration_lock.toml'), path.join(dir, 'migration_lock.toml'));
      await migrate(db.url, { migrationsDir: dir });
      await querySql(db.url, `INSERT INTO merchants (id, name) VALUES ('mer_old1', 'Old 1'), ('mer_old2', 'Old 2')`);
      for (let i = 0; i < 6; i++) {
        await querySql(
          db.url,
          `SELECT seq FROM audit_append($1, 'TEST', $2, 'customer.note', 'customer', NULL, 'key_old', 'req-old', 'success', $3::jsonb)`,
          [i % 2 ? 'mer_old1' : 'mer_old2', `aud_old${i}`, JSON.stringify({ i })],
        );
      }
      const old = await querySql<{ merchant_id: string; seq: string; hash: string }>(
        db.url,
        'SELECT merchant_id, seq::text, hash FROM audit_events ORDER BY merchant_id, seq',
      );

      await migrate(db.url);
      const migrated = await querySql<{ merchant_id: string; seq: string; hash: string }>(
        db.url,
        'SELECT merchant_id, seq::text, hash FROM audit_links ORDER BY merchant_id, seq',
      );
      expect(migrated).toEqual(old);
      const newer = await createTestApp(db.url);
      try {
        expect(await verifyAuditChain(newer)).toEqual({ merchants: 2, events: 6, unsealed: 0 });
        await appendAudit(
          newer.db.prisma,
          { merchantId: 'mer_old1', mode: null, keyId: 'cli', requestId: 'req-new' },
          { action: 'customer.note', entityType: 'customer', outcome: 'success' },
        );
        expect(await sealAuditNow(newer)).toBe(1);
        const head = await newer.db.prisma.auditLink.findFirstOrThrow({ where: { merchantId: 'mer_old1' }, orderBy: { seq: 'desc' } });
        expect(head.seq).toBe(4n);
        expect(head.prevHash).toBe(old.filter((r) => r.merchant_id === 'mer_old1').at(-1)!.hash);
        expect(await verifyAuditChain(newer)).toEqual({ merchants: 2, events: 7, unsealed: 0 });
      } finally {
        await newer.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  });
});

describe('the sealer in server processes', () => {
  it('runs in every server process; one links events; when that process dies another takes over', async () => {
    const db = await createTestDatabase();
    await migrate(db.url);
    const app = await createTestApp(db.url);
    const servers: ChildProcess[] = [];
    const start = async () => {
      const s = await startVaultServer({ env: serverEnv(db.url, { LOG_LEVEL: 'warn' }) });
      servers.push(s.child);
      return s.child;
    };
    /** The backend pid of the elected sealer's connection, once there is one. */
    const leaderBackend = async () => {
      for (;;) {
        const [row] = await querySql<{ pid: number }>(
          db.url,
          `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 72707371 AND objid = 2 AND granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        if (row) return row.pid;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const sealed = async (merchantId: string) => {
      for (;;) {
        const report = await verifyAuditChain(app, merchantId);
        if (report.unsealed === 0) return report;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      const first = await start();
      const leader = await leaderBackend();
      await start();
      const m = await createMerchant(app, { name: 'Served' });
      expect(await sealed(m.merchantId)).toMatchObject({ events: 3, unsealed: 0 });
      // Only the first process seals: the lock holder has not changed.
      expect(await leaderBackend()).toBe(leader);

      // The leader's process dies (no clean shutdown): its connection closes, the other process takes over.
      first.kill('SIGKILL');
      await appendAudit(
        app.db.prisma,
        { merchantId: m.merchantId, mode: null, keyId: 'cli', requestId: 'req-takeover' },
        {
          action: 'merchant.note',
          entityType: 'merchant',
          outcome: 'success',
        },
      );
      expect(await sealed(m.merchantId)).toMatchObject({ events: 4, unsealed: 0 });
      expect(await leaderBackend()).not.toBe(leader);
      expect((await verifyAuditChain(app)).firstBad).toBeUndefined();
    } finally {
      for (const s of servers) await stopProcess(s);
      await app.stop();
      await db.drop();
    }
  }, 60_000);
});
