import type { YogaInitialContext } from 'graphql-yoga';
import type { Principal } from './domain/principal.js';

export interface RequestContext {
  /** Set for every operation that reaches execution: a request without a valid key is refused earlier. */
  principal: Principal;
  requestId: string;
}

export type Context = YogaInitialContext & RequestContext;
