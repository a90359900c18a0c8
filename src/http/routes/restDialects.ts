import type { Plugin } from 'graphql-yoga';
import type { App } from '../../app/app.js';
import { hyperswitchRoutes } from './rest/hyperswitch.js';
import { OPENAPI_PATH, openApiDocument } from './rest/openapi.js';
import { restPrefixes, useRestRoutes, type RequestFacts, type RestRoute } from './rest/router.js';
import { tokenRoutes } from './rest/tokens.js';
import { RestError } from './rest/errors.js';

// The seeds' REST dialects (API.md): Hyperswitch Vault v2 (src/http/routes/rest/hyperswitch.ts) and seed 002's
// card tokens and payments (rest/tokens.ts), served beside yoga, with their OpenAPI document.

export const REST_ROUTES: readonly RestRoute[] = [...hyperswitchRoutes, ...tokenRoutes];

/** The path prefixes the dialects answer (`/v1/`, `/v2/`): their body limit, and 404s in their error shape. */
export const REST_PATH_PREFIXES = restPrefixes(REST_ROUTES);

/** A REST body's limit (enforced while reading by useBodyLimit): a card with billing and 50 metadata entries fits. */
export const REST_MAX_BODY_BYTES = 64 * 1024;

/** What useBodyLimit answers on the dialects' paths: their error shape. */
export function restRefusal(status: 400 | 413, message: string): unknown {
  return new RestError(status, 'invalid_request_error', status === 413 ? 'request_entity_too_large' : 'bad_request', message).body();
}

export function useRestDialects(app: App, facts: RequestFacts): Plugin {
  let document: Record<string, unknown> | undefined;
  return useRestRoutes(app, {
    ...facts,
    routes: REST_ROUTES,
    documents: { [OPENAPI_PATH]: () => (document ??= openApiDocument(REST_ROUTES, '1.0.0')) },
  });
}
