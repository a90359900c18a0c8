import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PothosValidationError } from '@pothos/core';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import { isRefusal, resolvePrincipal, type RequestContext } from './context.js';
import { assertOriginAllowed, useMerchantCors } from './plugins/cors.js';
import { CHALLENGE_MAX_BODY_BYTES, useSandboxChallenge } from './routes/sandboxChallenge.js';
import { useBrowserSdk } from './routes/browserSdk.js';
import { SANDBOX_CHALLENGE_PATH } from '../integrations/connectors/sandbox.js';
import { NETWORK_TOKEN_WEBHOOK_PATH, WEBHOOK_MAX_BODY_BYTES, useNetworkTokenWebhooks } from './routes/networkTokenWebhook.js';
import type { App } from '../app/app.js';
import { GRAPHQL_LIMITS, type Config } from '../app/config.js';
import { Code, Forbidden, IdempotencyConflict, type RequestCode } from '../domain/shared/errors.js';
import { isConnectionLoss } from '../db/connectionLoss.js';
import { errorsBody, requestError } from './requestErrors.js';
import { graphqlLimits, useBodyLimit, type BodyLimits } from './plugins/limits.js';
import { instrumentSchema, useMetrics, type MetricsAccess } from './plugins/metrics.js';
import { trackReferences, useIdempotency } from './plugins/idempotency.js';
import { trustedDocumentStore, useTrustedDocuments, type TrustedDocumentsPolicy } from './plugins/trustedDocuments.js';
import { graphqlFastPath } from './fastPath.js';
import { internResolvePaths, useCompiledExecutor } from './plugins/compiledExecutor.js';
import { containsPan } from '../card/pan.js';
import { containsIban } from '../card/bankAccount.js';
import { scrubText } from '../card/scrub.js';
import { InvalidCursor, useCursorCheck } from '../schema/cursors.js';
import { schema } from '../schema/index.js';
import { REST_MAX_BODY_BYTES, REST_PATH_PREFIXES, restRefusal, useRestDialects } from './routes/restDialects.js';

export interface YogaOptions {
  /** Put in every request's context; its rate limiters (absent: no limit) and logger serve the plugins. */
  app: App;
  /** Database reachable and no pending migrations. */
  ready: () => Promise<boolean>;
  /** Introspection and field suggestions; default true. */
  introspection?: boolean;
  /** GraphiQL at GET /graphql; default true. */
  graphiql?: boolean;
  /** Default: /metrics open on this server. */
  metrics?: MetricsAccess;
  /** Documents sent by id (src/http/plugins/trustedDocuments.ts); default: VAULT_TRUSTED_DOCUMENTS. */
  trustedDocuments?: TrustedDocumentsPolicy;
  /** What executes operations; default: the app's VAULT_GRAPHQL_EXECUTOR. */
  executor?: Config['VAULT_GRAPHQL_EXECUTOR'];
}

/** Yoga, and the Node handler that serves plain GraphQL requests without its HTTP layer (src/http/fastPath.ts). */
export type VaultYoga = YogaServerInstance<ServerContext, RequestContext> & {
  /** Answers `req` and says true, or leaves it untouched for yoga and says false. */
  fastPath: (req: IncomingMessage, res: ServerResponse) => boolean;
};

type ServerContext = Record<string, unknown>;

/** Every route's largest request body; paths without a body of their own (health, metrics, 404s) get the fallback. */
const BODY_LIMITS: BodyLimits = {
  routes: [
    { path: '/graphql', limit: GRAPHQL_LIMITS.maxBodyBytes },
    { path: SANDBOX_CHALLENGE_PATH, prefix: true, limit: CHALLENGE_MAX_BODY_BYTES },
    { path: NETWORK_TOKEN_WEBHOOK_PATH, prefix: true, limit: WEBHOOK_MAX_BODY_BYTES },
    ...REST_PATH_PREFIXES.map((path) => ({ path, prefix: true, limit: REST_MAX_BODY_BYTES, refusal: restRefusal })),
  ],
  fallback: 4 * 1024,
};

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

/** What a request answers when the database connection failed under it. */
const SERVICE_UNAVAILABLE_MESSAGE =
  'The database connection was lost; the request may or may not have taken effect. Retry with the same Idempotency-Key';

export function createVaultYoga({
  app,
  ready,
  introspection = true,
  graphiql = true,
  metrics,
  trustedDocuments = app.config.VAULT_TRUSTED_DOCUMENTS,
  executor = app.config.VAULT_GRAPHQL_EXECUTOR,
}: YogaOptions): VaultYoga {
  const { log, rateLimiter } = app;
  let graphiqlPage: Promise<string> | undefined;
  // One context per request, made once: authenticating is the first thing done with a GraphQL request.
  const contexts = new WeakMap<Request, Promise<RequestContext>>();
  const contextOf = (request: Request, req: unknown): Promise<RequestContext> => {
    let context = contexts.get(request);
    if (!context) {
      context = buildContext(request, req);
      contexts.set(request, context);
    }
    return context;
  };
  const buildContext = async (request: Request, req: unknown): Promise<RequestContext> => {
    const principal = await resolvePrincipal(app, request.headers, clientAddress(req));
    if (isRefusal(principal)) throw requestError(principal.code, principal.message, { status: principal.status });
    await assertOriginAllowed(app, request, principal);
    await rateLimiter?.consume(principal.keyId);
    // The merchant's data keys, loaded (or found cached) before any resolver opens a transaction: a load
    // inside one needs a second pooled connection, and with the pool full of transactions waiting for the
    // same load none proceeds. Cached, this is a map lookup.
    await app.db.keyring.merchantKeys(principal.merchantId);
    const requestId = requestIdFor(request);
    return { app, principal: { ...principal, requestId }, requestId };
  };

  const documents = trustedDocumentStore({ app, log });
  const redact = errorRedactor({ log, suggestions: introspection });
  const yoga = createYoga<ServerContext, RequestContext>({
    schema: trackReferences(instrumentSchema(executor === 'jit' ? internResolvePaths(schema) : schema)),
    maxRequestBodySize: false, // useBodyLimit, below
    batching: false,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/healthz',
    landingPage: false,
    logging: yogaLogger(log.child({ component: 'yoga' })),
    // Served from the package itself: no CDN scripts on a page where people paste secret keys. Loaded on the
    // first visit: the package holds GraphiQL's whole bundle (about 40 MB of a process's memory). Rendered
    // once (the options never change): each render built a new 9 MB page, and a few visits at once took a
    // server under npm start's 128 MB heap down.
    renderGraphiQL: (opts) => {
      graphiqlPage ??= import('@graphql-yoga/render-graphiql')
        .then((m) => m.renderGraphiQL(opts))
        .catch((err: unknown) => {
          graphiqlPage = undefined; // the next visit tries again
          throw err;
        });
      return graphiqlPage;
    },
    graphiql: graphiql && {
      title: 'Vault',
      defaultQuery: EXAMPLE_OPERATION,
      // ASCII only: browsers refuse non-Latin-1 header values before sending anything.
      headers: JSON.stringify({ 'api-key': 'sk_test_paste_your_secret_key_here' }, null, 2),
    },
    // Built (the key checked) before the body is even read: useAuthenticationFirst, below.
    context: ({ request, req }) => contextOf(request, req),
    maskedErrors: {
      maskError(error, message) {
        const at = error instanceof GraphQLError ? error : undefined;
        const original = at ? (at.originalError ?? at) : error;
        if (original instanceof PothosValidationError) {
          // Pothos' cursor messages quote the cursor; useCursorCheck refuses bad cursors before this, but if
          // one ever got here, the answer still would not echo it.
          return requestError(Code.BAD_USER_INPUT, /cursor/i.test(original.message) ? new InvalidCursor().message : original.message, {
            at,
          });
        }
        if (at && original instanceof GraphQLError) return at;
        if (original instanceof Forbidden) return requestError(Code.FORBIDDEN, original.message, { at });
        if (original instanceof IdempotencyConflict) return requestError(Code.IDEMPOTENCY_CONFLICT, original.message, { at, status: 409 });
        if (isConnectionLoss(original)) {
          // The database went away under the request (a failover, a cut connection): whatever it wrote may or
          // may not have committed. Retryable; a payment retried with its Idempotency-Key is not made twice.
          log.warn({ err: original ?? error }, 'database connection lost during the request');
          return requestError(Code.SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_MESSAGE, { at, status: 503, headers: { 'retry-after': '1' } });
        }
        log.error({ err: original ?? error }, 'unexpected error');
        return requestError(Code.INTERNAL_SERVER_ERROR, message);
      },
      errorMessage: 'Internal server error',
    },
    // Yoga's default CORS allows every origin; ours allows each merchant's own (src/http/plugins/cors.ts).
    cors: false,
    plugins: [
      useMetrics(metrics),
      useBodyLimit(BODY_LIMITS),
      ...graphqlLimits({ log, introspection }),
      // After the CSRF check (in graphqlLimits), which refuses simple browser requests with 403.
      useAuthenticationFirst(contextOf),
      // After authentication (no document is looked up for an unknown key), before anything reads the document.
      ...useTrustedDocuments({ app, log, policy: trustedDocuments, store: documents }),
      useVariableErrorCodes(),
      useCursorCheck(schema),
      useMerchantCors(app),
      useReadiness('/readyz', ready),
      useErrorRedaction(redact),
      useCodedEmptyAnswers(),
      useRequestLog(log),
      useSandboxChallenge(app),
      useBrowserSdk(app),
      useNetworkTokenWebhooks(app),
      // The REST dialects resolve their principal as buildContext does (the same functions, context.ts).
      useRestDialects(app, { peer: clientAddress, requestId: requestIdFor }),
      useIdempotency(app),
      ...(executor === 'jit' ? [useCompiledExecutor()] : []),
    ],
  });
  const fastPath = graphqlFastPath({
    yoga,
    log,
    maxBodyBytes: GRAPHQL_LIMITS.maxBodyBytes,
    contextOf,
    requestIdFor,
    adopt: (from, to) => {
      const context = contexts.get(from);
      const id = requestIds.get(from);
      if (context) contexts.set(to, context);
      if (id !== undefined) requestIds.set(to, id);
    },
    redact,
    introspection,
    documents: { policy: trustedDocuments, store: documents },
  });
  return Object.assign(yoga, { fastPath });
}

/**
 * Yoga's logger, with its `error` turned into debug: yoga logs there, with its stack, every error that
 * maskError rewrote, so every expected refusal (FORBIDDEN for a reveal or a forward to a host not allowed,
 * IDEMPOTENCY_CONFLICT) read in the log like a crash. maskError logs what is unexpected itself, at error level.
 */
function yogaLogger(log: Logger) {
  const at =
    (level: 'debug' | 'info' | 'warn') =>
    (...args: unknown[]) => {
      const [first, ...rest] = args;
      if (first instanceof Error) log[level]({ err: first }, rest.map(String).join(' ') || first.message);
      else (log[level] as (...a: unknown[]) => void)(...args);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('debug') };
}

/** The peer's address (not X-Forwarded-For, which any client can send). */
function clientAddress(req: unknown): string {
  return (req as IncomingMessage | undefined)?.socket?.remoteAddress ?? 'unknown';
}

const requestIds = new WeakMap<Request, string>();

/** The request's id: chosen once (requestIdOf), then the same wherever it is asked for (log, context, audit). */
function requestIdFor(request: Request): string {
  let id = requestIds.get(request);
  if (id === undefined) {
    id = requestIdOf(request);
    requestIds.set(request, id);
  }
  return id;
}

/**
 * The caller's x-request-id when it is a short token of ASCII letters, digits and hyphens (a UUID, a ULID,
 * `order-42`) holding no card number by the detector's loosest reading (any Luhn-valid 12-19 digit
 * window, hyphens between digits included); a fresh UUID otherwise. It is logged, returned and written to
 * the append-only audit table, so anything doubtful is replaced rather than kept: a caller's id that merely
 * looks like a card number (a long timestamp, one time in ten) loses only its correlation. A fresh UUID is
 * redrawn in the rare case its digit groups pass for a card number, so no request id ever looks like one.
 */
function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id');
  if (given && /^[A-Za-z0-9-]{1,64}$/.test(given) && !containsPan(given) && !containsIban(given)) return given;
  let id = randomUUID();
  while (containsPan(id)) id = randomUUID();
  return id;
}

/**
 * GraphQL's own coercion and validation messages quote the offending value ("String cannot represent a
 * non string value: 4111…"), which for a vault can be a card number or CVC. Strip quoted values from every
 * error message, and mask anything that still looks like a card number.
 */
function redactErrorMessage(message: string): string {
  return scrubText(
    message
      .replace(/(got invalid value) [\s\S]*?(?=( at "|; |$))/, '$1')
      .replace(/(cannot represent[^:]*?value): [\s\S]*$/, '$1.')
      .replace(/(Expected value of type "[^"]+"), found [\s\S]*?(?=;|$)/, '$1, found an invalid value')
      .replace(/(Expected type "[^"]+")\. [\s\S]*$/, '$1.'),
  );
}

/**
 * Authenticates a GraphQL request before its body is read, parsed or validated: yoga builds the context only
 * after validation, so a caller without a valid key would otherwise learn from parse and validation errors
 * what the schema holds (and have its document parsed and validated for free). The context (key, origin,
 * rate limit) is built here once and reused by the `context` factory. Routes that are not GraphQL
 * (health, GraphiQL's page, preflights, webhooks, the challenge page) answer in `onRequest`, before this.
 */
function useAuthenticationFirst(contextOf: (request: Request, req: unknown) => Promise<RequestContext>): Plugin {
  return {
    onRequestParse({ request, serverContext }) {
      return contextOf(request, (serverContext as { req?: unknown } | undefined)?.req).then(() => undefined);
    },
  };
}

/**
 * graphql-js answers variables that do not fit their types ("was not provided", "got invalid value") as
 * errors of a result without `data` and without a code; they are the caller's input: BAD_USER_INPUT, 400.
 * (An execution result without `data` can only come from there: operation selection failures are answered
 * by yoga before execution.)
 */
function useVariableErrorCodes(): Plugin {
  const coded = (errors: readonly GraphQLError[], code: RequestCode) =>
    errors.map((e) => (e.extensions?.code ? e : withExtensions(e, { ...e.extensions, code, http: { status: 400 } })));
  return {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result) || result.data !== undefined || !result.errors?.length) return;
          setResult({ ...result, errors: coded(result.errors, Code.BAD_USER_INPUT) });
        },
      };
    },
    // The schema has no subscriptions: graphql-js refuses one ("Schema is not configured to execute
    // subscription operation") without a code.
    onSubscribe() {
      return {
        onSubscribeResult({ result, setResult }) {
          if (isAsyncIterable(result) || result.data !== undefined || !result.errors?.length) return;
          setResult({ ...result, errors: coded(result.errors, Code.BAD_REQUEST) });
        },
      };
    },
  };
}

/** Codes of a request refused before execution (the document or its variables): always HTTP 400. */
const CODE_OF_STATUS: Record<number, RequestCode> = {
  400: Code.BAD_REQUEST,
  401: Code.UNAUTHENTICATED,
  403: Code.FORBIDDEN,
  405: Code.BAD_REQUEST,
  413: Code.REQUEST_ENTITY_TOO_LARGE,
  429: Code.RATE_LIMITED,
};

const REFUSED_BEFORE_EXECUTION: ReadonlySet<unknown> = new Set([
  Code.GRAPHQL_PARSE_FAILED,
  Code.GRAPHQL_VALIDATION_FAILED,
  Code.BAD_USER_INPUT,
]);

/**
 * The last look at every error before it is sent, whichever phase produced it:
 * - messages are redacted (`redactErrorMessage`), and with introspection off every "Did you mean …?"
 *   suggestion is removed (field, argument, type, enum value, input field; graphql-armor's own blocker
 *   only sees validation errors and misses enum values);
 * - `extensions.originalError` is dropped (yoga puts the JSON parser's message there, which quotes the body);
 * - every error carries `extensions.code` (one without is a defect, logged, and answered as internal);
 * - a request refused before execution answers HTTP 400 whatever the Accept header: yoga would answer
 *   validation errors 200 to `application/json` clients, which then take a refusal for a result.
 */
function errorRedactor({ log, suggestions }: { log: Logger; suggestions: boolean }): (result: ExecutionResult) => ExecutionResult {
  return (r) => {
    if (!r || typeof r !== 'object' || !('errors' in r) || !Array.isArray(r.errors)) return r;
    const requestError = !('data' in r) || r.data === undefined;
    return {
      ...r,
      errors: r.errors.map((e: GraphQLError) => {
        const { originalError: _echo, ...extensions } = (e.extensions ?? {}) as Record<string, unknown>;
        if (typeof extensions.code !== 'string') {
          // A plugin's refusal with a status but no code (the CSRF check's 403) gets the status's code.
          const status = (extensions.http as { status?: number } | undefined)?.status;
          const byStatus = status === undefined ? undefined : CODE_OF_STATUS[status];
          if (!byStatus) log.warn({ reason: scrubText(e.message) }, 'GraphQL error without extensions.code');
          extensions.code = byStatus ?? Code.INTERNAL_SERVER_ERROR;
        }
        if (requestError) {
          const http = (extensions.http ?? {}) as { status?: number };
          const status = http.status ?? (REFUSED_BEFORE_EXECUTION.has(extensions.code) ? 400 : undefined);
          // `spec: true` is yoga's "answer 200 to application/json clients"; a refusal is a refusal.
          if (status) extensions.http = { ...http, status, spec: false };
        }
        const message = redactErrorMessage(e.message);
        return new GraphQLError(suggestions ? message : withoutSuggestions(message), {
          nodes: e.nodes,
          positions: e.positions,
          path: e.path,
          extensions,
        });
      }),
    };
  };
}

function useErrorRedaction(redact: (result: ExecutionResult) => ExecutionResult): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      const results = Array.isArray(result) ? result : [result];
      const redacted = results.map((r) => redact(r as ExecutionResult));
      setResult((Array.isArray(result) ? redacted : redacted[0]) as typeof result);
    },
  };
}

/** graphql-js phrases every suggestion as `Did you mean …?` (a list of quoted names, "the enum value …"). */
function withoutSuggestions(message: string): string {
  return message.replace(/\s*Did you mean [^?]*\?/g, '').replace(/\s*\[Suggestion hidden\]/g, '');
}

function withExtensions(error: GraphQLError, extensions: Record<string, unknown>): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions,
  });
}

/**
 * `GET /readyz`: 200 when `ready()` says so, 503 otherwise (or when it throws). Yoga's own readiness plugin
 * matched every request's URL against a URLPattern (and any URL ending in the path, query strings included):
 * 1-2% of a request's CPU, for a probe a load balancer sends once a second.
 */
function useReadiness(path: string, ready: () => Promise<boolean>): Plugin {
  return {
    onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname !== path) return;
      const answer = (ok: boolean) => endResponse(new fetchAPI.Response(null, { status: ok ? 200 : 503 }));
      return ready().then(answer, () => answer(false));
    },
  };
}

/**
 * The answers yoga and the HTTP layer give without a body (415 for a POST whose Content-Type no parser reads,
 * 404 for an unknown path) carry the error shape and code every other refusal has.
 */
function useCodedEmptyAnswers(): Plugin {
  const answers: Record<number, { code: string; message: string }> = {
    404: { code: Code.NOT_FOUND, message: 'Not found: GraphQL is served at /graphql' },
    415: { code: Code.BAD_REQUEST, message: 'Unsupported Content-Type: send the operation as application/json' },
  };
  return {
    onResponse({ response, setResponse, fetchAPI }) {
      const answer = answers[response.status];
      if (!answer || response.body !== null || response.headers.get('content-length') !== null) return;
      const headers = new fetchAPI.Headers(response.headers);
      headers.set('content-type', 'application/json; charset=utf-8');
      headers.set('cache-control', 'no-store');
      const body = JSON.stringify(errorsBody(answer.code, answer.message));
      setResponse(new fetchAPI.Response(body, { status: response.status, headers }));
    },
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

function useRequestLog(log: Logger): Plugin {
  // One entry per request, filled from the URL yoga has parsed already.
  const seen = new WeakMap<Request, { start: number; path: string }>();
  return {
    onRequest({ request, url }) {
      seen.set(request, { start: performance.now(), path: url.pathname });
      // Fixed here, or already (the fast path fixes the id of a request it hands over before yoga sees it).
      requestIdFor(request);
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
