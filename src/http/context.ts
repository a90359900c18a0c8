import type { YogaInitialContext } from 'graphql-yoga';
import type { App } from '../app/app.js';
import { authenticate } from '../domain/merchants/apiKeys.js';
import { Code } from '../domain/shared/errors.js';
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

/** Why a request's headers name no principal: answered with `status`, before anything executes. */
export interface Refusal {
  code: typeof Code.UNAUTHENTICATED | typeof Code.FORBIDDEN;
  status: 401 | 403;
  message: string;
}

/**
 * Who is calling, from a request's headers alone (GraphQL and REST alike): the api key (`api-key`, or
 * `Authorization: Bearer`). A missing, unknown or revoked key is UNAUTHENTICATED (401). Unknown keys are
 * throttled per client address (`peer`) before any lookup once over the limit. Origin checks and rate limits
 * come after this. (The profiles work adds `x-profile-id` here, with FORBIDDEN (403) for a profile the key
 * may not act in: the shape of `Refusal` is theirs.)
 */
export async function resolvePrincipal(app: App, headers: Headers, peer: string): Promise<Principal | Refusal> {
  const key = presentedKey(headers);
  const { authFailures } = app;
  const principal = key ? await (authFailures ? authFailures.guard(peer, () => authenticate(app, key)) : authenticate(app, key)) : null;
  if (!principal) {
    return {
      code: Code.UNAUTHENTICATED,
      status: 401,
      message: key ? 'Unknown or revoked api key' : 'Missing api key: send it in the "api-key" header',
    };
  }
  return principal;
}

export function isRefusal(value: Principal | Refusal): value is Refusal {
  return 'status' in value;
}

function presentedKey(headers: Headers): string | undefined {
  const key = headers.get('api-key')?.trim();
  if (key) return key;
  const auth = headers.get('authorization');
  const match = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return match?.[1];
}
