import type { YogaInitialContext } from 'graphql-yoga';
import type { App } from '../app/app.js';
import { authenticate } from '../domain/merchants/apiKeys.js';
import { isProfileOf } from '../domain/merchants/profiles.js';
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

/** The header that scopes a request to one profile of the key's merchant. */
const PROFILE_HEADER = 'x-profile-id';

/**
 * Who is calling, from a request's headers alone (GraphQL and REST alike): the api key (`api-key`, or
 * `Authorization: Bearer`), then the profile (`x-profile-id`, checked against the key). A missing, unknown
 * or revoked key is UNAUTHENTICATED (401); a profile id that is unknown, another merchant's, or (for a key
 * restricted to a profile) not the key's own is FORBIDDEN (403). Unknown keys are throttled per client
 * address (`peer`) before any lookup once over the limit. Origin checks and rate limits come after this.
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
  const profileId = headers.get(PROFILE_HEADER)?.trim();
  if (!profileId) return principal;
  // A restricted key is scoped already: the header may only name the key's own profile.
  if (principal.profileScope !== undefined) return profileId === principal.profileScope ? principal : forbiddenProfile();
  if (!(await isProfileOf(app, principal.merchantId, profileId))) return forbiddenProfile();
  return { ...principal, profileId, profileScope: profileId };
}

/** The same answer for an unknown profile and another merchant's: nothing tells them apart. */
function forbiddenProfile(): Refusal {
  return { code: Code.FORBIDDEN, status: 403, message: `This key may not act in the profile named by ${PROFILE_HEADER}` };
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
