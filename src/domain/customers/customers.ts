import type { App } from '../../app/app.js';
import { deleteCustomerPaymentMethods } from '../paymentMethods/store.js';
import { openField } from '../../db/encryption.js';
import type { Address } from '../../db/encrypted-fields.js';
import { newId } from '../shared/ids.js';
import { NotFound, ValidationFailed } from '../shared/errors.js';
import type { Customer } from '../../generated/prisma/client.js';
import {
  customerExists,
  deleteCustomerRow,
  findCustomerIdsByReference,
  findCustomerRow,
  insertCustomer,
  listCustomerRows,
  updateCustomerRow,
  type Query,
} from './store.js';
import { createCustomerInputSchema, updateCustomerInputSchema } from './inputs.js';
import { parseInput } from '../shared/inputs.js';
import { actorOf, appendAudit, audited, type AuditEntry } from '../audit/audit.js';
import type { Principal } from '../shared/principal.js';

export type { Query } from './store.js';

const customerEvent = (action: string, id: string, detail?: AuditEntry['detail']): AuditEntry => ({
  action: `customer.${action}`,
  entityType: 'customer',
  entityId: id,
  outcome: 'success',
  detail,
});

export async function createCustomer(app: App, principal: Principal, input: unknown) {
  const v = parseInput(createCustomerInputSchema, input, ['input'], app.clock());
  const id = newId('cus');
  return audited(
    app,
    actorOf(principal),
    (tx) => insertCustomer(tx, principal, id, v),
    () => customerEvent('create', id),
  );
}

/**
 * For each merchant reference, the customer holding it (the oldest, if the merchant made several) or a new
 * one with it, created (validated and audited as createCustomer does) in one transaction: how an import
 * attaches cards to the merchant's own customer ids. A reference that fails validation maps to its error.
 */
export async function customersForReferences(
  app: App,
  principal: Principal,
  references: readonly string[],
): Promise<Map<string, string | ValidationFailed>> {
  const result = new Map<string, string | ValidationFailed>();
  const valid: string[] = [];
  for (const merchantReferenceId of references) {
    try {
      parseInput(createCustomerInputSchema, { merchantReferenceId }, ['input'], app.clock());
      valid.push(merchantReferenceId);
    } catch (err) {
      if (!(err instanceof ValidationFailed)) throw err;
      result.set(merchantReferenceId, err);
    }
  }
  for (const row of await findCustomerIdsByReference(app.db.prisma, principal, valid)) {
    if (row.merchantReferenceId !== null && !result.has(row.merchantReferenceId)) result.set(row.merchantReferenceId, row.id);
  }
  const missing = valid.filter((r) => !result.has(r));
  if (missing.length === 0) return result;
  // A few transactions side by side (each customer's insert and audit event land together).
  const chunks: string[][] = [];
  for (let i = 0; i < missing.length; i += 50) chunks.push(missing.slice(i, i + 50));
  await Promise.all(
    chunks.map((chunk) =>
      app.db.prisma.$transaction(async (tx) => {
        for (const merchantReferenceId of chunk) {
          const id = newId('cus');
          await insertCustomer(tx, principal, id, { merchantReferenceId });
          await appendAudit(tx, actorOf(principal), customerEvent('create', id));
          result.set(merchantReferenceId, id);
        }
      }),
    ),
  );
  return result;
}

export async function updateCustomer(app: App, principal: Principal, id: string, input: unknown) {
  const v = parseInput(updateCustomerInputSchema, input, ['input'], app.clock());
  await requireCustomer(app, principal, id);
  return audited(
    app,
    actorOf(principal),
    (tx) => updateCustomerRow(tx, principal, id, v),
    () => customerEvent('update', id),
  );
}

/** Deletes the customer and, in the same transaction, every payment method it owns. */
export async function deleteCustomer(app: App, principal: Principal, id: string) {
  return app.db.prisma.$transaction(async (tx) => {
    if (!(await customerExists(tx, principal, id))) throw new NotFound('customer', id);
    const count = await deleteCustomerPaymentMethods(tx, principal.merchantId, id);
    await deleteCustomerRow(tx, principal, id);
    await appendAudit(tx, actorOf(principal), customerEvent('delete', id, { deletedPaymentMethods: count }));
    return { deletedId: id, deletedPaymentMethods: count };
  });
}

export async function findCustomer(app: App, principal: Principal, id: string, query: Query = {}) {
  return findCustomerRow(app.db.prisma, principal, id, query);
}

export async function requireCustomer(app: App, principal: Principal, id: string): Promise<void> {
  if (!(await customerExists(app.db.prisma, principal, id))) throw new NotFound('customer', id);
}

/** Newest first; `query` carries Pothos' cursor, take and skip. */
export async function listCustomers(app: App, principal: Principal, query: Query) {
  return listCustomerRows(app, principal, query);
}

type CustomerSecret = 'name' | 'email' | 'phone' | 'phoneCountryCode';
type Row = Pick<Customer, 'merchantId' | 'id'> &
  Partial<Pick<Customer, CustomerSecret | 'defaultBillingAddress' | 'defaultShippingAddress'>>;

/** Personal data is decrypted only here, one field at a time, for the caller that selected it. */
export function customerField(app: App, row: Row, field: CustomerSecret): Promise<string | null> {
  return openField(app.db.keyring, 'Customer', field, row);
}

export function customerAddress(app: App, row: Row, field: 'defaultBillingAddress' | 'defaultShippingAddress'): Promise<Address | null> {
  return openField(app.db.keyring, 'Customer', field, row);
}
