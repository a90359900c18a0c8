import type { App } from '../../app/app.js';
import { deleteCustomerPaymentMethods } from '../paymentMethods/store.js';
import { openField } from '../../db/encryption.js';
import { encodeField, type Address } from '../../db/encrypted-fields.js';
import { newId } from '../shared/ids.js';
import { NotFound } from '../shared/errors.js';
import { Prisma as P, type Customer } from '../../generated/prisma/client.js';
import { createCustomerInputSchema, updateCustomerInputSchema } from '../shared/inputSchemas.js';
import { parseInput } from '../shared/inputs.js';
import { actorOf, appendAudit, audited, type AuditEntry } from '../audit/audit.js';
import { tenant, type Principal } from '../shared/principal.js';

/** The select/include a GraphQL field asks for (from Pothos), spread into the query. */
export type Query = { select?: object; include?: object };

const jsonOrNull = (v: unknown) => (v === undefined ? undefined : v === null ? P.DbNull : (v as P.InputJsonValue));

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
    (tx) =>
      tx.customer.create({
        data: {
          ...tenant(principal),
          id,
          merchantReferenceId: v.merchantReferenceId ?? null,
          name: v.name ?? null,
          email: v.email ?? null,
          phone: v.phone ?? null,
          phoneCountryCode: v.phoneCountryCode ?? null,
          description: v.description ?? null,
          defaultBillingAddress: encodeField('Customer', 'defaultBillingAddress', v.defaultBillingAddress) ?? null,
          defaultShippingAddress: encodeField('Customer', 'defaultShippingAddress', v.defaultShippingAddress) ?? null,
          metadata: jsonOrNull(v.metadata) ?? P.DbNull,
        },
      }),
    () => customerEvent('create', id),
  );
}

export async function updateCustomer(app: App, principal: Principal, id: string, input: unknown) {
  const v = parseInput(updateCustomerInputSchema, input, ['input'], app.clock());
  await requireCustomer(app, principal, id);
  return audited(
    app,
    actorOf(principal),
    (tx) =>
      tx.customer.update({
        where: { merchantId_id: { merchantId: principal.merchantId, id } },
        data: {
          merchantReferenceId: v.merchantReferenceId,
          name: v.name,
          email: v.email,
          phone: v.phone,
          phoneCountryCode: v.phoneCountryCode,
          description: v.description,
          defaultBillingAddress: encodeField('Customer', 'defaultBillingAddress', v.defaultBillingAddress),
          defaultShippingAddress: encodeField('Customer', 'defaultShippingAddress', v.defaultShippingAddress),
          metadata: jsonOrNull(v.metadata),
        },
      }),
    () => customerEvent('update', id),
  );
}

/** Deletes the customer and, in the same transaction, every payment method it owns. */
export async function deleteCustomer(app: App, principal: Principal, id: string) {
  return app.db.prisma.$transaction(async (tx) => {
    const found = await tx.customer.findFirst({ where: { ...tenant(principal), id }, select: { id: true } });
    if (!found) throw new NotFound('customer', id);
    const count = await deleteCustomerPaymentMethods(tx, principal.merchantId, id);
    await tx.customer.delete({ where: { merchantId_id: { merchantId: principal.merchantId, id } } });
    await appendAudit(tx, actorOf(principal), customerEvent('delete', id, { deletedPaymentMethods: count }));
    return { deletedId: id, deletedPaymentMethods: count };
  });
}

export async function findCustomer(app: App, principal: Principal, id: string, query: Query = {}) {
  return app.db.prisma.customer.findFirst({ ...(query as object), where: { ...tenant(principal), id } });
}

export async function requireCustomer(app: App, principal: Principal, id: string): Promise<void> {
  const found = await app.db.prisma.customer.findFirst({ where: { ...tenant(principal), id }, select: { id: true } });
  if (!found) throw new NotFound('customer', id);
}

/** Newest first; `query` carries Pothos' cursor, take and skip. */
export async function listCustomers(app: App, principal: Principal, query: Query) {
  return app.db.prisma.customer.findMany({
    ...(query as object),
    where: tenant(principal),
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
  });
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
