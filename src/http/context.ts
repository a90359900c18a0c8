import type { YogaInitialContext } from 'graphql-yoga';
import type { App } from '../app/app.js';
import type { Principal } from '../domain/shared/principal.js';
import type { References } from './plugins/idempotency.js';

export interface RequestContext {
  /** The app serving the request (one per server): resolvers hand it to domain functions. */
  app: App;
  /** Set for every operation that reaches execution: a request without a valid key is refused earlier. */
  principal: Principal;
  requestId: string;
  /** While a mutation with an Idempotency-Key executes: the payment methods and customers its response refers to. */
  references?: References;
  /** While a mutation with an Idempotency-Key executes: the key's row id and the request's fingerprint. */
  idempotency?: { keyId: string; fingerprint: string };
}

export type Context = YogaInitialContext & RequestContext;
