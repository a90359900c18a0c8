import { jsonOrNull, type Tx } from '../../db/client.js';
import { encodeField, type Address } from '../../db/encrypted-fields.js';
import { Prisma as P } from '../../generated/prisma/client.js';
import type { App } from '../../app/app.js';
import { owner, tenant, type Principal, type Tenant } from '../shared/principal.js';

// The customer store: every statement on `customers`, once (through Prisma: the encryption extension seals
// the personal data on write). The rules are in customers.ts.

/** The select/include a GraphQL field asks for (from Pothos), spread into the query. */
export type Query = { select?: object; include?: object };

/** A customer's fields as a write takes them: undefined leaves a field as it is, null clears it. */
export interface CustomerFields {
  merchantReferenceId?: string | null;
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  phoneCountryCode?: string | null;
  description?: string | null;
  defaultBillingAddress?: Address | null;
  defaultShippingAddress?: Address | null;
  metadata?: unknown;
}

const columns = (f: CustomerFields) => ({
  merchantReferenceId: f.merchantReferenceId,
  name: f.name,
  email: f.email,
  phone: f.phone,
  phoneCountryCode: f.phoneCountryCode,
  description: f.description,
  defaultBillingAddress: encodeField('Customer', 'defaultBillingAddress', f.defaultBillingAddress),
  defaultShippingAddress: encodeField('Customer', 'defaultShippingAddress', f.defaultShippingAddress),
  metadata: jsonOrNull(f.metadata),
});

export function insertCustomer(tx: Tx, principal: Principal, id: string, fields: CustomerFields) {
  const c = columns(fields);
  return tx.customer.create({
    data: {
      ...owner(principal),
      id,
      merchantReferenceId: c.merchantReferenceId ?? null,
      name: c.name ?? null,
      email: c.email ?? null,
      phone: c.phone ?? null,
      phoneCountryCode: c.phoneCountryCode ?? null,
      description: c.description ?? null,
      defaultBillingAddress: c.defaultBillingAddress ?? null,
      defaultShippingAddress: c.defaultShippingAddress ?? null,
      metadata: c.metadata ?? P.DbNull,
    },
  });
}

export function updateCustomerRow(tx: Tx, principal: Tenant, id: string, fields: CustomerFields) {
  return tx.customer.update({ where: { merchantId_id: { merchantId: principal.merchantId, id } }, data: columns(fields) });
}

/** Whether the customer was there to delete. */
export async function deleteCustomerRow(tx: Tx, principal: Tenant, id: string): Promise<boolean> {
  return (await tx.customer.deleteMany({ where: { ...tenant(principal), id } })).count === 1;
}

export function findCustomerRow(client: App['db']['prisma'] | Tx, principal: Tenant, id: string, query: Query = {}) {
  return client.customer.findFirst({ ...(query as object), where: { ...tenant(principal), id } });
}

export async function customerExists(client: App['db']['prisma'] | Tx, principal: Tenant, id: string): Promise<boolean> {
  return (await client.customer.findFirst({ where: { ...tenant(principal), id }, select: { id: true } })) !== null;
}

/** Newest first; `query` carries Pothos' cursor, take and skip. */
export function listCustomerRows(app: App, principal: Tenant, query: Query) {
  return app.db.prisma.customer.findMany({
    ...(query as object),
    where: tenant(principal),
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
  });
}

/** The tenant's customers with these merchant references, oldest first. */
export function findCustomerIdsByReference(client: App['db']['prisma'] | Tx, principal: Tenant, references: string[]) {
  return client.customer.findMany({
    where: { ...tenant(principal), merchantReferenceId: { in: references } },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: { id: true, merchantReferenceId: true },
  });
}
