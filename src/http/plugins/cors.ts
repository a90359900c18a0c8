import type { Plugin } from 'graphql-yoga';
import type { Principal } from '../../domain/shared/principal.js';
import { origins } from '../../domain/merchants/allowLists.js';
import { Code } from '../../domain/shared/errors.js';
import { requestError } from '../requestErrors.js';
import type { App } from '../../app/app.js';

// CORS per merchant. A preflight carries no api key, so it is answered for origins on any merchant's
// allow-list; the real request is then checked against the calling key's own merchant, before anything
// executes. Requests without Origin (server to server) and same-origin ones (GraphiQL) are not affected.

const PREFLIGHT_HEADERS = {
  'access-control-allow-methods': 'POST, GET, OPTIONS',
  'access-control-allow-headers': 'content-type, api-key, authorization, idempotency-key, x-request-id, x-profile-id',
  'access-control-max-age': '600',
};
// Lets the page read what it may need to report or retry.
const EXPOSE_HEADERS = 'x-request-id, idempotent-replayed, retry-after';

/** What pages call: GraphQL, and the card token route of the REST dialects (publishable keys, seed 002). */
const BROWSER_PATHS: ReadonlySet<string> = new Set(['/graphql', '/v1/tokens']);

const allowedRequests = new WeakMap<Request, string>();

/**
 * The Origin header when it names another origin than the vault's own (VAULT_PUBLIC_URL, or its listen
 * address). Not the origin the request says it reached: that comes from the Host header, which the caller sets,
 * so a page on evil.example sending `Host: evil.example` would pass as same-origin.
 */
function foreignOrigin(app: App, request: Request): string | undefined {
  const origin = request.headers.get('origin');
  return origin === null || app.urls.isOwnOrigin(origin) ? undefined : origin;
}

/** Called once the api key is resolved: a cross-origin request must come from its merchant's origins. */
export async function assertOriginAllowed(app: App, request: Request, principal: Principal): Promise<void> {
  const origin = foreignOrigin(app, request);
  if (origin === undefined) return;
  if (!(await origins.includes(app, principal.merchantId, origin))) {
    throw requestError(Code.FORBIDDEN, 'This origin is not allowed for this merchant (npx vault merchant allow-origin)', { status: 403 });
  }
  allowedRequests.set(request, origin);
}

export function useMerchantCors(app: App): Plugin {
  return {
    // Synchronous unless it is a preflight (an async hook makes every request's pipeline wait a turn).
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (request.method !== 'OPTIONS' || !BROWSER_PATHS.has(url.pathname)) return;
      return (async () => {
        const origin = foreignOrigin(app, request);
        if (origin === undefined || !(await origins.includedAnywhere(app, origin))) {
          endResponse(new fetchAPI.Response(null, { status: 403, headers: { vary: 'Origin' } }));
          return;
        }
        endResponse(
          new fetchAPI.Response(null, {
            status: 204,
            headers: { 'access-control-allow-origin': origin, ...PREFLIGHT_HEADERS, vary: 'Origin' },
          }),
        );
      })();
    },
    onResponse({ request, response }) {
      const origin = allowedRequests.get(request);
      if (!origin) return;
      response.headers.set('access-control-allow-origin', origin);
      response.headers.set('access-control-expose-headers', EXPOSE_HEADERS);
      response.headers.append('vary', 'Origin');
    },
  };
}
