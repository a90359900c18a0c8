import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { YogaInitialContext } from 'graphql-yoga';
import type { App } from '../app/app.js';
import { containsPan } from '../card/pan.js';
import { authenticate } from '../domain/merchants/apiKeys.js';
import { Code } from '../domain/shared/errors.js';
import type { Principal } from '../domain/shared/principal.js';
import { assertOriginAllowed } from './plugins/cors.js';
import type { References } from './plugins/idempotency.js';
import { requestError } from './requestErrors.js';

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

/**
 * Who is calling, from the request's headers: the api key (`api-key`, or `Authorization: Bearer`), checked
 * against the key's merchant's origins, counted against its rate limit, with the merchant's data keys loaded.
 * Throws the request error to answer (401, 403, 429) otherwise. The one place every API surface (GraphQL,
 * the REST dialects) resolves its principal.
 */
export async function resolvePrincipal(app: App, request: Request, req: unknown): Promise<Principal & { requestId: string }> {
  const { rateLimiter, authFailures } = app;
  const key = presentedKey(request.headers);
  // Unknown keys are throttled per client address (authFailures), before any lookup once over the limit.
  const principal = key
    ? await (authFailures ? authFailures.guard(clientAddress(req), () => authenticate(app, key)) : authenticate(app, key))
    : null;
  if (!principal) {
    throw requestError(Code.UNAUTHENTICATED, key ? 'Unknown or revoked api key' : 'Missing api key: send it in the "api-key" header', {
      status: 401,
    });
  }
  await assertOriginAllowed(app, request, principal);
  await rateLimiter?.consume(principal.keyId);
  // The merchant's data keys, loaded (or found cached) before any resolver opens a transaction: a load
  // inside one needs a second pooled connection, and with the pool full of transactions waiting for the
  // same load none proceeds. Cached, this is a map lookup.
  await app.db.keyring.merchantKeys(principal.merchantId);
  return { ...principal, requestId: requestIdOf(request) };
}

function presentedKey(headers: Headers): string | undefined {
  const key = headers.get('api-key')?.trim();
  if (key) return key;
  const auth = headers.get('authorization');
  const match = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return match?.[1];
}

/** The peer's address (not X-Forwarded-For, which any client can send). */
function clientAddress(req: unknown): string {
  return (req as IncomingMessage | undefined)?.socket?.remoteAddress ?? 'unknown';
}

const requestIds = new WeakMap<Request, string>();

/**
 * The request's id, decided once per request: the caller's x-request-id when it is a short token of ASCII
 * letters, digits and hyphens (a UUID, a ULID, `order-42`) holding no card number by the detector's loosest
 * reading (any Luhn-valid 12-19 digit window, hyphens between digits included); a fresh UUID otherwise. It is
 * logged, returned and written to the append-only audit table, so anything doubtful is replaced rather than
 * kept: a caller's id that merely looks like a card number (a long timestamp, one time in ten) loses only its
 * correlation. A fresh UUID is redrawn in the rare case its digit groups pass for a card number, so no request
 * id ever looks like one.
 */
export function requestIdOf(request: Request): string {
  let id = requestIds.get(request);
  if (id) return id;
  const given = request.headers.get('x-request-id');
  if (given && /^[A-Za-z0-9-]{1,64}$/.test(given) && !containsPan(given)) id = given;
  else {
    id = randomUUID();
    while (containsPan(id)) id = randomUUID();
  }
  requestIds.set(request, id);
  return id;
}
