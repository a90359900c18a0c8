import { Conflict, ForwardFailed, NotFound, TokenAlreadyUsed, TokenExpired, ValidationFailed } from '../domain/shared/errors.js';
import { forwardRequest, type ForwardResult } from '../domain/forward/forward.js';
import { builder } from './builder.js';

const ForwardRequestInput = builder.inputType('ForwardRequestInput', {
  description:
    'Exactly one of `paymentMethodId` or `token`. Placeholders in `headers` and `body`: {{card.number}}, {{card.expMonth}} (two digits), ' +
    '{{card.expYear}} (four digits), {{card.holderName}}, {{card.cvc}} (card tokens only), {{networkToken.number}}, ' +
    '{{networkToken.expMonth}}, {{networkToken.expYear}}, {{networkToken.cryptogram}}, {{networkToken.eci}}. In a JSON or form body ' +
    'values are escaped for it.',
  fields: (t) => ({
    paymentMethodId: t.id(),
    token: t.id({ description: 'A `tok_` card token; the forward spends it.' }),
    url: t.string({ required: true, description: "Absolute URL on a host of the merchant's forwarding list; https with live keys." }),
    method: t.string({ required: true, description: 'GET, POST, PUT, PATCH or DELETE.' }),
    headers: t.field({ type: 'JSON', description: 'An object of header names to string values.' }),
    body: t.string({ description: 'Sent as is after placeholders are filled in; at most 256 KiB.' }),
  }),
});

const ForwardRequestSuccess = builder.objectRef<ForwardResult>('ForwardRequestSuccess').implement({
  description: "The upstream's answer, whatever its status, with any card number in it masked.",
  fields: (t) => ({
    status: t.exposeInt('status'),
    headers: t.field({ type: 'JSON', resolve: (r) => r.headers, description: 'Lower-case names to values.' }),
    body: t.exposeString('body', { description: 'Decoded as UTF-8.' }),
  }),
});

builder.mutationField('forwardRequest', (t) =>
  t.field({
    type: ForwardRequestSuccess,
    description:
      "Sends an HTTP request to a host on the merchant's forwarding list (npx vault merchant allow-host) with the card filled in; FORBIDDEN for other hosts. Audited.",
    errors: { types: [ValidationFailed, NotFound, TokenExpired, TokenAlreadyUsed, Conflict, ForwardFailed] },
    args: { input: t.arg({ type: ForwardRequestInput, required: true }) },
    resolve: (_root, { input }, ctx) => forwardRequest(ctx.app, ctx.principal, input),
  }),
);
