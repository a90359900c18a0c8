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
} from '../../src/client/index.js';
import type { App } from '../../src/app/app.js';
import type { Db } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { verifyAuditChain } from '../../src/domain/audit/audit.js';
import { createCustomer } from '../../src/domain/customers/customers.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { purgeExpired, tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import type { Principal } from '../../src/domain/shared/principal.js';
import { createTestApp, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { clientFor, newMerchant, success, uniqueVisa, testApp, useDatabase, type TestMerchant } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

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
    expect(await verifyAuditChain(testApp(), m.merchantId)).toEqual({ merchants: 1, events: 23 });

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
    principal = { merchantId: m.merchantId, mode: 'TEST', keyId: 'key_tx', kind: 'SECRET', allowReveal: false, requestId: 'req-tx' };
  });
  afterAll(async () => {
    await app.stop();
    await database.drop();
  });

  it('audits the retention purge of every payment method', async () => {
    const pm = await tokenizeCard(app, principal, { card: { number: uniqueVisa(), expMonth: 1, expYear: EXP_YEAR } });
    await db.prisma.paymentMethod.updateMany({ where: { id: pm.paymentMethod.id }, data: { retainUntil: new Date(Date.now() - 1000) } });
    expect(await purgeExpired(app)).toBe(1);
    const purge = await db.prisma.auditEvent.findMany({ where: { entityId: pm.paymentMethod.id }, orderBy: { seq: 'asc' } });
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
