import { builder } from './builder.js';
import './scalars.js';
import './errors.js';
import './common.js';
import './customers.js';
import './paymentMethods.js';
import './cardTokens.js';
import './payments.js';
import './forward.js';
import './audit.js';
import './webhooks.js';

builder.queryType({ authScopes: { secretKey: true } });
builder.mutationType({ authScopes: { secretKey: true } });

export const schema = builder.toSchema({ sortSchema: true });
