import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Principal } from './domain/principal.js';
import { isOriginAllowed } from './domain/origins.js';

// CORS per merchant. A preflight carries no api key, so it is answered for origins on any merchant's
// allow-list; the real request is then checked against the calling key's own merchant, before anything
// executes. Requests without Origin (server to server) and same-origin ones (GraphiQL) are not affected.

const ALLOW_HEADERS = 'content-type, api-key, authorization, idempotency-key, x-request-id';
const EXPOSE_HEADERS = 'x-request-id, idempotent-replayed, retry-after';
const allowedResponses = new WeakMap<Request, string>();

function crossOrigin(request: Request): string | undefined {
  const origin = request.headers.get('origin');
  if (!origin || origin === 'null') return origin ?? undefined;
  return origin === new URL(request.url).origin ? undefined : origin;
}

/** Called with the authenticated principal: a cross-origin request must come from its merchant's origins. */
export async function assertOriginAllowed(request: Request, principal: Principal): Promise<void> {
  const origin = crossOrigin(request);
  if (origin === undefined) return;
  if (!(await isOriginAllowed(origin, principal.merchantId))) {
    throw new GraphQLError('This origin is not allowed for this merchant (npm run vault -- merchant allow-origin)', {
      extensions: { code: 'FORBIDDEN', http: { status: 403 } },
    });
  }
  allowedResponses.set(request, origin);
}

export function useMerchantCors(): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (request.method !== 'OPTIONS' || url.pathname !== '/graphql') return;
      const origin = crossOrigin(request);
      if (!origin || !(await isOriginAllowed(origin))) {
        endResponse(new fetchAPI.Response(null, { status: 403, headers: { vary: 'Origin' } }));
        return;
      }
      endResponse(
        new fetchAPI.Response(null, {
          status: 204,
          headers: {
            'access-control-allow-origin': origin,
            'access-control-allow-methods': 'POST, GET, OPTIONS',
            'access-control-allow-headers': ALLOW_HEADERS,
            'access-control-max-age': '600',
            vary: 'Origin',
          },
        }),
      );
    },
    onResponse({ request, response }) {
      const origin = allowedResponses.get(request);
      if (!origin) return;
      response.headers.set('access-control-allow-origin', origin);
      response.headers.set('access-control-expose-headers', EXPOSE_HEADERS);
      response.headers.append('vary', 'Origin');
    },
  };
}
