import type { App } from '../../app/app.js';
import { deleteCustomerPaymentMethods } from '../paymentMethods/store.js';
import { openField } from '../../db/encryption.js';
import type { Address } from '../../db/encrypted-fields.js';
import { newId } from '../shared/ids.js';
import { NotFound } from '../shared/errors.js';
import type { Customer } from '../../generated/prisma/client.js';
import {
  customerExists,
  deleteCustomerRow,
  findCustomerIdByReference,
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
 * The customer with this merchant reference (the oldest, if the merchant made several), or a new one with
 * it: how an import attaches cards to the merchant's own customer ids.
 */
export async function customerForReference(app: App, principal: Principal, merchantReferenceId: string): Promise<string> {
  const found = await findCustomerIdByReference(app.db.prisma, principal, merchantReferenceId);
  if (found) return found.id;
  return (await createCustomer(app, principal, { merchantReferenceId })).id;
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
