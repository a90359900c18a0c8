import { createWebhookEndpoint, deleteWebhookEndpoint, listWebhookDeliveries, listWebhookEndpoints } from '../domain/webhooks/webhooks.js';
import { NotFound, ValidationFailed } from '../domain/shared/errors.js';
import { builder } from './builder.js';
import { idOf } from './common.js';

type EndpointView = Awaited<ReturnType<typeof listWebhookEndpoints>>[number];

const WebhookEndpointType = builder.objectRef<EndpointView>('WebhookEndpoint').implement({
  description: 'Where the vault POSTs signed events (Standard Webhooks). The signing secret is shown once, at creation.',
  fields: (t) => ({
    id: t.exposeID('id'),
    url: t.exposeString('url'),
    events: t.exposeStringList('events', { description: 'Event names, or `*` for all.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const WebhookDeliveryType = builder.prismaObject('WebhookAttempt', {
  variant: 'WebhookDelivery',
  description: 'One attempt to deliver an event to an endpoint.',
  fields: (t) => ({
    id: t.exposeID('id'),
    eventId: t.exposeID('eventId', { description: 'The `webhook-id` header: the same on every attempt of an event.' }),
    eventType: t.exposeString('eventType'),
    attempt: t.exposeInt('attempt', { description: '1 for the first attempt.' }),
    status: t.exposeInt('status', { nullable: true, description: "The endpoint's HTTP status; null when it did not answer in time." }),
    succeeded: t.exposeBoolean('succeeded'),
    error: t.exposeString('error', {
      nullable: true,
      description:
        "Why the endpoint gave no answer: `timeout`, the connection's error code (`ECONNREFUSED`, `ENOTFOUND`, `EPRIVATEADDRESS` for a live endpoint resolving to a private address), `EPAYLOADPAN`, or `internal` for a failure of the vault itself; null when it answered.",
    }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  fields: (t) => ({
    url: t.string({ required: true, description: 'https in live mode; test mode also takes http and loopback.' }),
    events: t.stringList({ required: true, description: 'Event names, or ["*"].' }),
  }),
});

const CreateWebhookEndpointSuccess = builder
  .objectRef<Awaited<ReturnType<typeof createWebhookEndpoint>>>('CreateWebhookEndpointSuccess')
  .implement({
    fields: (t) => ({
      endpoint: t.field({ type: WebhookEndpointType, resolve: (p) => p.endpoint }),
      secret: t.exposeString('secret', { description: 'The whsec_ signing secret: shown only here.' }),
    }),
  });

const DeleteWebhookEndpointSuccess = builder.objectRef<{ deletedId: string }>('DeleteWebhookEndpointSuccess').implement({
  fields: (t) => ({ deletedId: t.exposeID('deletedId') }),
});

builder.queryFields((t) => ({
  webhookEndpoints: t.field({
    type: [WebhookEndpointType],
    description: 'Newest first.',
    resolve: (_root, _args, ctx) => listWebhookEndpoints(ctx.app, ctx.principal),
  }),
  webhookDeliveries: t.prismaConnection(
    {
      type: WebhookDeliveryType,
      cursor: 'merchantId_id',
      description:
        "Every attempt to deliver to the endpoint, newest first; `first` is capped at 100. NOT_FOUND (a request error) for another tenant's endpoint.",
      maxSize: 100,
      defaultSize: 20,
      args: { endpointId: t.arg.id({ required: true }) },
      resolve: (query, _root, { endpointId }, ctx) => listWebhookDeliveries(ctx.app, ctx.principal, idOf(endpointId), query),
    },
    { name: 'WebhookDeliveryConnection' },
    { name: 'WebhookDeliveryEdge' },
  ),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: CreateWebhookEndpointSuccess,
    errors: { types: [ValidationFailed] },
    args: { input: t.arg({ type: CreateWebhookEndpointInput, required: true }) },
    resolve: (_root, { input }, ctx) => createWebhookEndpoint(ctx.app, ctx.principal, input),
  }),
  deleteWebhookEndpoint: t.field({
    type: DeleteWebhookEndpointSuccess,
    description: 'Deliveries to the endpoint stop (pending ones are dropped).',
    errors: { types: [NotFound] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => deleteWebhookEndpoint(ctx.app, ctx.principal, idOf(id)),
  }),
}));
