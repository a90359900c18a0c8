import { NotFound, ValidationFailed } from '../domain/shared/errors.js';
import {
  createCustomer,
  customerAddress,
  customerField,
  deleteCustomer,
  findCustomer,
  listCustomers,
  updateCustomer,
} from '../domain/customers/customers.js';
import { builder } from './builder.js';
import { AddressInput, AddressType, idOf } from './common.js';

const CustomerType = builder.prismaObject('Customer', {
  description: 'A customer of the merchant; personal data is stored encrypted.',
  fields: (t) => ({
    id: t.exposeID('id'),
    profileId: t.exposeID('profileId', { description: 'The profile (`pro_`) it belongs to: the one of the request that created it.' }),
    merchantReferenceId: t.exposeString('merchantReferenceId', { nullable: true }),
    name: t.string({ nullable: true, resolve: (c, _args, ctx) => customerField(ctx.app, c, 'name') }),
    email: t.string({ nullable: true, resolve: (c, _args, ctx) => customerField(ctx.app, c, 'email') }),
    phone: t.string({ nullable: true, resolve: (c, _args, ctx) => customerField(ctx.app, c, 'phone') }),
    phoneCountryCode: t.string({ nullable: true, resolve: (c, _args, ctx) => customerField(ctx.app, c, 'phoneCountryCode') }),
    description: t.exposeString('description', { nullable: true }),
    defaultBillingAddress: t.field({
      type: AddressType,
      nullable: true,
      resolve: (c, _args, ctx) => customerAddress(ctx.app, c, 'defaultBillingAddress'),
    }),
    defaultShippingAddress: t.field({
      type: AddressType,
      nullable: true,
      resolve: (c, _args, ctx) => customerAddress(ctx.app, c, 'defaultShippingAddress'),
    }),
    metadata: t.expose('metadata', { type: 'JSON', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    paymentMethods: t.relatedConnection(
      'paymentMethods',
      {
        description: 'Newest first (for one-click checkout). `first` is capped at 100.',
        cursor: 'merchantId_id',
        maxSize: 100,
        defaultSize: 20,
        query: () => ({ orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] }),
      },
      { name: 'PaymentMethodConnection' },
      { name: 'PaymentMethodEdge' },
    ),
  }),
});

const CreateCustomerInput = builder.inputType('CreateCustomerInput', {
  fields: (t) => ({
    merchantReferenceId: t.string({ description: "The merchant's own id for this customer." }),
    name: t.string(),
    email: t.string(),
    phone: t.string(),
    phoneCountryCode: t.string({ description: 'E.g. "+65".' }),
    description: t.string(),
    defaultBillingAddress: t.field({ type: AddressInput }),
    defaultShippingAddress: t.field({ type: AddressInput }),
    metadata: t.field({ type: 'JSON', description: 'Flat object: at most 50 keys, keys ≤ 40 characters, values ≤ 500.' }),
  }),
});

const UpdateCustomerInput = builder.inputType('UpdateCustomerInput', {
  description: 'Omitted fields are left as they are; null clears a field.',
  fields: (t) => ({
    merchantReferenceId: t.string(),
    name: t.string(),
    email: t.string(),
    phone: t.string(),
    phoneCountryCode: t.string(),
    description: t.string(),
    defaultBillingAddress: t.field({ type: AddressInput }),
    defaultShippingAddress: t.field({ type: AddressInput }),
    metadata: t.field({ type: 'JSON' }),
  }),
});

builder.queryFields((t) => ({
  customer: t.prismaField({
    type: 'Customer',
    nullable: true,
    description: "Null when absent, deleted or another tenant's.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => findCustomer(ctx.app, ctx.principal, idOf(id), query),
  }),
  customers: t.prismaConnection(
    {
      type: 'Customer',
      cursor: 'merchantId_id',
      description: 'Newest first. `first` is capped at 100.',
      maxSize: 100,
      defaultSize: 20,
      resolve: (query, _root, _args, ctx) => listCustomers(ctx.app, ctx.principal, query),
    },
    { name: 'CustomerConnection' },
    { name: 'CustomerEdge' },
  ),
}));

const CustomerPayload = (name: string) =>
  builder.objectRef<{ customer: Awaited<ReturnType<typeof createCustomer>> }>(name).implement({
    fields: (t) => ({ customer: t.field({ type: CustomerType, resolve: (p) => p.customer }) }),
  });

const DeleteCustomerSuccess = builder.objectRef<{ deletedId: string; deletedPaymentMethods: number }>('DeleteCustomerSuccess').implement({
  fields: (t) => ({
    deletedId: t.exposeID('deletedId'),
    deletedPaymentMethods: t.exposeInt('deletedPaymentMethods', { description: 'Payment methods deleted with it.' }),
  }),
});

builder.mutationFields((t) => ({
  createCustomer: t.field({
    type: CustomerPayload('CreateCustomerSuccess'),
    errors: { types: [ValidationFailed] },
    args: { input: t.arg({ type: CreateCustomerInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ customer: await createCustomer(ctx.app, ctx.principal, input) }),
  }),
  updateCustomer: t.field({
    type: CustomerPayload('UpdateCustomerSuccess'),
    errors: { types: [ValidationFailed, NotFound] },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateCustomerInput, required: true }) },
    resolve: async (_root, { id, input }, ctx) => ({ customer: await updateCustomer(ctx.app, ctx.principal, idOf(id), input) }),
  }),
  deleteCustomer: t.field({
    type: DeleteCustomerSuccess,
    description: 'Deletes the customer and all its payment methods; their card data is destroyed.',
    errors: { types: [NotFound] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => deleteCustomer(ctx.app, ctx.principal, idOf(id)),
  }),
}));
