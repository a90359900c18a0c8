import { randomUUID } from 'node:crypto';
import { PothosValidationError } from '@pothos/core';
import { GraphQLError } from 'graphql';
import { createYoga, useReadinessCheck, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { RequestContext } from './context.js';
import { assertOriginAllowed, useMerchantCors } from './cors.js';
import { useSandboxChallenge } from './connectors/sandboxChallenge.js';
import { useNetworkTokenWebhooks } from './tokenServices/webhook.js';
import { authenticate } from './domain/apiKeys.js';
import { db } from './db/client.js';
import { GRAPHQL_LIMITS } from './config.js';
import { Forbidden } from './errors.js';
import { graphqlLimits, useBodyLimit } from './limits.js';
import { instrumentSchema, useMetrics } from './metrics.js';
import type { RateLimiter } from './rateLimit.js';
import { useIdempotency } from './idempotency.js';
import { containsCardNumber } from './card/pan.js';
import { scrubText } from './logger.js';
import { schema } from './schema/index.js';

export interface YogaOptions {
  log: Logger;
  /** Database reachable and no pending migrations. */
  ready: () => Promise<boolean>;
  /** Default: no limit. */
  rateLimiter?: RateLimiter;
  /** Introspection and field suggestions; default true. */
  introspection?: boolean;
}

type ServerContext = Record<string, unknown>;

const EXAMPLE_OPERATION = `# Fill in the "api-key" header below with a secret key (sk_test_…), then run.
mutation Tokenize {
  tokenizeCard(input: {
    card: { number: "4242 4242 4242 4242", expMonth: 12, expYear: 30, holderName: "Jane Doe" }
  }) {
    __typename
    ... on TokenizeCardSuccess {
      duplicate
      paymentMethod { id retainUntil card { brand bin last4 expMonth expYear } }
    }
    ... on ValidationError { fields { path code message } }
    ... on Error { code message }
  }
}
`;

export function createVaultYoga({ log, ready, rateLimiter, introspection = true }: YogaOptions): YogaServerInstance<ServerContext, RequestContext> {
  return createYoga<ServerContext, RequestContext>({
    schema: instrumentSchema(schema),
    maxRequestBodySize: false, // useBodyLimit, below
    batching: false,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/healthz',
    landingPage: false,
    logging: log.child({ component: 'yoga' }),
    // Served from the package itself: no CDN scripts on a page where people paste secret keys. Loaded on the
    // first visit: the package holds GraphiQL's whole bundle (about 40 MB of a process's memory).
    renderGraphiQL: async (opts) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(opts),
    graphiql: {
      title: 'Vault',
      defaultQuery: EXAMPLE_OPERATION,
      // ASCII only: browsers refuse non-Latin-1 header values before sending anything.
      headers: JSON.stringify({ 'api-key': 'sk_test_paste_your_secret_key_here' }, null, 2),
    },
    context: async ({ request }): Promise<RequestContext> => {
      const key = presentedKey(request.headers);
      const principal = key ? await authenticate(key) : null;
      if (!principal) {
        throw new GraphQLError(key ? 'Unknown or revoked api key' : 'Missing api key: send it in the "api-key" header', {
          extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
        });
      }
      await assertOriginAllowed(request, principal);
      await rateLimiter?.consume(principal.keyId);
      // The merchant's data keys, loaded (or found cached) before any resolver opens a transaction: a load
      // inside one needs a second pooled connection, and with the pool full of transactions waiting for the
      // same load none proceeds. Cached, this is a map lookup.
      await db().keyring.merchantKeys(principal.merchantId);
      const requestId = requestIds.get(request) ?? requestIdOf(request);
      return { principal: { ...principal, requestId }, requestId };
    },
    maskedErrors: {
      maskError(error, message) {
        const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
        if (original instanceof PothosValidationError) {
          const at = error instanceof GraphQLError ? error : undefined;
          return new GraphQLError(original.message, { nodes: at?.nodes, path: at?.path, extensions: { code: 'BAD_USER_INPUT' } });
        }
        if (error instanceof GraphQLError && original instanceof GraphQLError) return error;
        if (original instanceof Forbidden) {
          const at = error instanceof GraphQLError ? error : undefined;
          return new GraphQLError(original.message, { nodes: at?.nodes, path: at?.path, extensions: { code: 'FORBIDDEN' } });
        }
        log.error({ err: original ?? error }, 'unexpected error');
        return new GraphQLError(message, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
      errorMessage: 'Internal server error',
    },
    // Yoga's default CORS allows every origin; ours allows each merchant's own (src/cors.ts).
    cors: false,
    plugins: [
      useMetrics(),
      useBodyLimit(GRAPHQL_LIMITS.maxBodyBytes),
      ...graphqlLimits({ log, introspection }),
      useMerchantCors(),
      useReadinessCheck({ endpoint: '/readyz', check: ready }),
      useErrorRedaction(),
      useRequestLog(log),
      useSandboxChallenge(log),
      useNetworkTokenWebhooks(log),
      useIdempotency(log),
    ],
  });
}

function presentedKey(headers: Headers): string | undefined {
  const key = headers.get('api-key')?.trim();
  if (key) return key;
  const auth = headers.get('authorization');
  const match = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return match?.[1];
}

const requestIds = new WeakMap<Request, string>();

/**
 * The caller's x-request-id when it is a short token that holds no card number in a card range (it is
 * logged, audited and returned by auditEvents); a fresh one otherwise. Card ranges only: a request id that
 * ends in a millisecond timestamp passes Luhn one time in ten. A fresh UUID is redrawn in the rare case its digit groups
 * pass for a card number, so no request id ever looks like one.
 */
export function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id');
  if (given && /^[\w.-]{1,64}$/.test(given) && !containsCardNumber(given)) return given;
  let id = randomUUID();
  while (containsCardNumber(id)) id = randomUUID();
  return id;
}

/**
 * GraphQL's own coercion and validation messages quote the offending value ("String cannot represent a
 * non string value: 4111…"), which for a vault can be a card number or CVC. Strip quoted values from every
 * error message, and mask anything that still looks like a card number.
 */
export function redactErrorMessage(message: string): string {
  return scrubText(
    message
      .replace(/(got invalid value) [\s\S]*?(?=( at "|; |$))/, '$1')
      .replace(/(cannot represent[^:]*?value): [\s\S]*$/, '$1.')
      .replace(/(Expected value of type "[^"]+"), found [\s\S]*?(?=;|$)/, '$1, found an invalid value')
      .replace(/(Expected type "[^"]+")\. [\s\S]*$/, '$1.'),
  );
}

function useErrorRedaction(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      const results = Array.isArray(result) ? result : [result];
      const redacted = results.map((r) => {
        if (!r || typeof r !== 'object' || !('errors' in r) || !Array.isArray(r.errors)) return r;
        return {
          ...r,
          errors: r.errors.map((e: GraphQLError) =>
            new GraphQLError(redactErrorMessage(e.message), {
              nodes: e.nodes,
              positions: e.positions,
              path: e.path,
              extensions: e.extensions,
            }),
          ),
        };
      });
      setResult((Array.isArray(result) ? redacted : redacted[0]) as typeof result);
    },
  };
}

function useRequestLog(log: Logger): Plugin {
  // One entry per request, filled from the URL yoga has parsed already.
  const seen = new WeakMap<Request, { start: number; path: string }>();
  return {
    onRequest({ request, url }) {
      seen.set(request, { start: performance.now(), path: url.pathname });
      requestIds.set(request, requestIdOf(request));
    },
    onResponse({ request, response }) {
      const entry = seen.get(request);
      const requestId = requestIds.get(request);
      if (requestId) response.headers.set('x-request-id', requestId);
      const path = entry?.path ?? new URL(request.url).pathname;
      if (path === '/healthz' || path === '/readyz' || path === '/metrics') return;
      log.info(
        {
          method: request.method,
          path,
          status: response.status,
          requestId,
          ms: entry === undefined ? undefined : Math.round(performance.now() - entry.start),
        },
        'request',
      );
    },
  };
}
