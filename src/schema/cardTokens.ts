import { ValidationFailed } from '../domain/shared/errors.js';
import { createCardToken, type CardTokenRow } from '../domain/cardTokens/cardTokens.js';
import { maskedCard } from '../domain/paymentMethods/paymentMethods.js';
import { builder } from './builder.js';
import { BillingInput } from './common.js';
import { CardInput, CardViewType } from './paymentMethods.js';

const CardTokenType = builder.objectRef<CardTokenRow>('CardToken').implement({
  description: 'A single-use `tok_` for a card, valid 30 minutes: pass it to tokenizeCard or createPayment.',
  fields: (t) => ({
    id: t.exposeID('id'),
    profileId: t.exposeID('profileId', {
      description: 'The profile (`pro_`) it belongs to: only a request in that profile can use it.',
    }),
    card: t.field({ type: CardViewType, resolve: (tok, _args, ctx) => maskedCard(ctx.app, tok, 'CardToken') }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    used: t.boolean({ resolve: (tok) => tok.usedAt !== null }),
  }),
});

const CreateCardTokenInput = builder.inputType('CreateCardTokenInput', {
  fields: (t) => ({
    card: t.field({ type: CardInput, required: true }),
    billing: t.field({ type: BillingInput }),
  }),
});

const CreateCardTokenSuccess = builder.objectRef<{ token: CardTokenRow }>('CreateCardTokenSuccess').implement({
  fields: (t) => ({ token: t.field({ type: CardTokenType, resolve: (p) => p.token }) }),
});

builder.mutationField('createCardToken', (t) =>
  t.field({
    type: CreateCardTokenSuccess,
    description: 'Tokenizes a card for one later use. The only operation a publishable key (pk_…) may call.',
    // Publishable keys live in browsers; this is the one door open to them.
    skipTypeScopes: true,
    authScopes: { anyKey: true },
    errors: { types: [ValidationFailed] },
    args: { input: t.arg({ type: CreateCardTokenInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ token: await createCardToken(ctx.app, ctx.principal, input) }),
  }),
);
