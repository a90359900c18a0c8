import type { App } from '../../app/app.js';
import type { Plugin } from 'graphql-yoga';
import { applyLifecycleEvent } from '../../domain/paymentMethods/networkTokens.js';
import { isBodyTooLarge } from '../plugins/limits.js';
import { tspById } from '../../integrations/tokenServices/index.js';

// Token service providers push lifecycle events here: POST /webhooks/network-tokens/<tspId>, signed by the
// TSP (see its verifyWebhook). 200 once the event is applied, or when it names no token of ours (a TSP
// retries anything else, and the answer must not tell a prober which tokens exist); 401 for a bad
// signature, 400 for a body that is not an event, 413 beyond 64 KiB.

export const NETWORK_TOKEN_WEBHOOK_PATH = '/webhooks/network-tokens/';
const ROUTE = new RegExp(`^${NETWORK_TOKEN_WEBHOOK_PATH}([a-z0-9_-]{1,32})$`);
/** The route's body limit (enforced while reading by useBodyLimit, src/http/plugins/limits.ts). */
export const WEBHOOK_MAX_BODY_BYTES = 64 * 1024;

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });

export function useNetworkTokenWebhooks(app: App): Plugin {
  const { log } = app;
  return {
    // Synchronous for every other path (an async hook makes every request's pipeline wait a turn).
    onRequest({ request, url, endResponse }) {
      if (!url.pathname.startsWith(NETWORK_TOKEN_WEBHOOK_PATH)) return;
      return (async () => {
        const tsp = tspById(app.tokenServices, ROUTE.exec(url.pathname)?.[1] ?? '');
        if (!tsp) return endResponse(json(404, { error: 'No such token service provider' }));
        if (request.method !== 'POST') return endResponse(new Response(null, { status: 405, headers: { allow: 'POST' } }));
        let body: string;
        try {
          body = await request.text();
        } catch (err) {
          // useBodyLimit stops reading past the limit; anything else is the client going away.
          return endResponse(isBodyTooLarge(err) ? json(413, { error: 'Body too large' }) : json(400, { error: 'Body could not be read' }));
        }
        const check = tsp.verifyWebhook(body, request.headers);
        if (!check.ok) {
          log.warn({ tsp: tsp.id, problem: check.problem }, 'network token webhook refused');
          return endResponse(
            check.problem === 'signature' ? json(401, { error: 'Invalid signature' }) : json(400, { error: 'Not a lifecycle event' }),
          );
        }
        const { event } = check;
        try {
          const changed = await applyLifecycleEvent(app, tsp.id, event);
          log.info({ tsp: tsp.id, eventId: event.id, type: event.type, changed }, 'network token lifecycle event');
          endResponse(json(200, { received: true }));
        } catch (err) {
          log.error({ err, tsp: tsp.id, eventId: event.id }, 'network token lifecycle event failed');
          endResponse(json(500, { error: 'Not applied; retry later' }));
        }
      })();
    },
  };
}
