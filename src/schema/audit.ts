import { listAuditEvents } from '../domain/audit/audit.js';
import { builder } from './builder.js';
import { idOf } from './common.js';

builder.prismaObject('AuditEvent', {
  description: 'One entry of the append-only, hash-chained audit trail.',
  fields: (t) => ({
    id: t.exposeID('id'),
    action: t.exposeString('action', { description: 'e.g. payment_method.reveal, payment_method.forward.' }),
    entityType: t.exposeString('entityType'),
    entityId: t.exposeID('entityId', { nullable: true }),
    keyId: t.exposeID('keyId', { description: 'The api key that acted; `cli` for the operator, `tsp:<id>` for a token service provider.' }),
    requestId: t.exposeString('requestId', { description: 'The x-request-id of the request (or the event id of a webhook).' }),
    outcome: t.exposeString('outcome', { description: 'success, denied or failed.' }),
    detail: t.expose('detail', { type: 'JSON', nullable: true, description: 'Non-secret facts, e.g. the host of a forward.' }),
    at: t.expose('at', { type: 'DateTime' }),
    hash: t.string({
      nullable: true,
      description:
        "SHA-256 chaining this event to the previous one of the merchant; null until the event is sealed into the chain (within seconds of its change's commit).",
      select: { link: { select: { hash: true } } },
      resolve: (event) => event.link?.hash ?? null,
    }),
  }),
});

builder.queryFields((t) => ({
  auditEvents: t.prismaConnection(
    {
      type: 'AuditEvent',
      cursor: 'merchantId_id',
      description:
        "The merchant's audit trail for this key's mode, newest first; `entityId` narrows it to one record; in a profile (x-profile-id, or a restricted key) only the events of requests made in that profile. `first` is capped at 100.",
      maxSize: 100,
      defaultSize: 20,
      args: { entityId: t.arg.id() },
      resolve: (query, _root, { entityId }, ctx) =>
        listAuditEvents(ctx.app, ctx.principal, query, entityId === null || entityId === undefined ? null : idOf(entityId)),
    },
    { name: 'AuditEventConnection' },
    { name: 'AuditEventEdge' },
  ),
}));
