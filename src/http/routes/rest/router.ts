import type { Plugin } from 'graphql-yoga';
import type { z } from 'zod';
import type { App } from '../../../app/app.js';
import { scrubText } from '../../../card/scrub.js';
import { abandon, begin, complete, requestFingerprint, UncertainClaim } from '../../../domain/idempotency/idempotency.js';
import { messageFor } from '../../../domain/shared/inputSchemas.js';
import type { Principal } from '../../../domain/shared/principal.js';
import { isRefusal, resolvePrincipal } from '../../context.js';
import { assertOriginAllowed } from '../../plugins/cors.js';
import { IDEMPOTENCY_KEY_FORMAT, References } from '../../plugins/idempotency.js';
import { recordRestRequest } from '../../plugins/metrics.js';
import { RestError, toRestError, validationError, type FieldNamer } from './errors.js';

// The REST dialects (API.md, "The seeds' REST dialects"): routes beside yoga, each a thin mapping from its
// JSON body onto the domain function GraphQL's field calls, so every rule (validation, tenancy, encryption,
// audit) has one implementation. What is shared with GraphQL: the principal (src/http/context.ts, with the
// rate limit and origin check), body limits (useBodyLimit), Idempotency-Key (domain/idempotency), the request
// log and its x-request-id. Request bodies are checked here only for their shape (types, known fields); the
// domain's own schemas check the values.

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

interface RestAnswer {
  status: number;
  body: unknown;
}

interface RestRequest<B> {
  app: App;
  principal: Principal;
  /** The path's `{name}` segments, decoded. */
  params: Record<string, string>;
  body: B;
  /** With an Idempotency-Key: the key's row id and the request's fingerprint (createPayment records them). */
  idempotency?: { keyId: string; fingerprint: string };
}

export interface RestRoute<S extends z.ZodType = z.ZodType> {
  method: Method;
  /** OpenAPI style: `/v2/payment-methods/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  body?: S;
  /** Publishable keys may call it; every other route answers them 403. */
  publishable?: boolean;
  /** Answers the route gives besides the shared error statuses, by HTTP status. */
  responses: Record<number, { description: string; schema: z.ZodType }>;
  /** A domain input path (`input.card.expMonth`) by the body's name for it. */
  fieldName: FieldNamer;
  handle(request: RestRequest<z.output<S>>): Promise<RestAnswer>;
}

/** Declares a route (the body's type flows into the handler). */
export function restRoute<S extends z.ZodType>(route: RestRoute<S>): RestRoute {
  return route as unknown as RestRoute;
}

interface Compiled {
  route: RestRoute;
  pattern: RegExp;
  names: string[];
}

function compile(route: RestRoute): Compiled {
  const names: string[] = [];
  const source = route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

/** Every path a route of `routes` may have: the prefixes this plugin answers (with 404 for the rest of them). */
export function restPrefixes(routes: readonly RestRoute[]): string[] {
  return [...new Set(routes.map((r) => r.path.slice(0, r.path.indexOf('/', 1) + 1)))];
}

/** What the server's HTTP layer knows of a request: its client's address and its request id (yoga.ts). */
export interface RequestFacts {
  peer(req: unknown): string;
  requestId(request: Request): string;
}

export interface RestOptions extends RequestFacts {
  routes: readonly RestRoute[];
  /** Answered without a key (the OpenAPI document). */
  documents: Record<string, () => unknown>;
}

export function useRestRoutes(app: App, { routes, documents, peer, requestId }: RestOptions): Plugin {
  const { log } = app;
  const compiled = routes.map(compile);
  const prefixes = restPrefixes(routes);
  return {
    // Synchronous for every other path (an async hook makes every request's pipeline wait a turn).
    onRequest({ request, url, endResponse, serverContext }) {
      const { pathname } = url;
      const document = documents[pathname];
      if (document) {
        endResponse(request.method === 'GET' || request.method === 'HEAD' ? json(200, document()) : methodNotAllowed(['GET']));
        return;
      }
      if (!prefixes.some((p) => pathname.startsWith(p))) return;
      const matches = compiled.flatMap((c) => {
        const m = c.pattern.exec(pathname);
        return m ? [{ ...c, values: m.slice(1) }] : [];
      });
      const match = matches.find((m) => m.route.method === request.method);
      if (!match) {
        endResponse(
          matches.length > 0
            ? methodNotAllowed(matches.map((m) => m.route.method))
            : json(404, new RestError(404, 'not_found_error', 'route_not_found', 'No such route').body()),
        );
        return;
      }
      const req = (serverContext as { req?: unknown } | undefined)?.req;
      return (async () => {
        const started = performance.now();
        const answer = await serve(match.route, request, pathname, params(match.names, match.values), req).catch((err: unknown) => {
          const e = toRestError(err, match.route.fieldName, log);
          return { status: e.status, body: e.body(), headers: e.extra.headers };
        });
        recordRestRequest(match.route.operationId, answer.status, (performance.now() - started) / 1000);
        endResponse(json(answer.status, answer.body, answer.headers));
      })();
    },
  };

  async function serve(
    route: RestRoute,
    request: Request,
    pathname: string,
    pathParams: Record<string, string>,
    req: unknown,
  ): Promise<RestAnswer & { headers?: Record<string, string> }> {
    // Who is calling, before the body is read, as buildContext (yoga.ts) decides it for GraphQL: the same
    // resolvePrincipal (whatever it comes to carry, a profile from x-profile-id, reaches every REST route from
    // this one call), origin check, rate limit, and the merchant's keys loaded before any transaction opens.
    const resolved = await resolvePrincipal(app, request.headers, peer(req));
    if (isRefusal(resolved)) {
      throw new RestError(
        resolved.status,
        resolved.status === 401 ? 'authentication_error' : 'permission_error',
        resolved.code.toLowerCase(),
        resolved.message,
      );
    }
    await assertOriginAllowed(app, request, resolved);
    await app.rateLimiter?.consume(resolved.keyId);
    await app.db.keyring.merchantKeys(resolved.merchantId);
    const principal: Principal = { ...resolved, requestId: requestId(request) };
    if (principal.kind !== 'SECRET' && !route.publishable) {
      throw new RestError(403, 'permission_error', 'forbidden', 'A publishable key may only create card tokens (POST /v1/tokens)');
    }
    const body = route.body ? await readBody(request, route.body) : undefined;
    const key = request.headers.get('idempotency-key');
    if (key === null || route.method === 'GET') return route.handle({ app, principal, params: pathParams, body });
    return idempotent(route, principal, key, pathname, pathParams, body);
  }

  /**
   * A request with an Idempotency-Key: the first executes and its answer (success or refusal, never a fault)
   * is kept 24 hours for the same key, api key and request; a retry gets it back with `idempotent-replayed`.
   * The rules (who executes, conflicts, staleness) are domain/idempotency's, shared with GraphQL.
   */
  async function idempotent(
    route: RestRoute,
    principal: Principal,
    key: string,
    pathname: string,
    pathParams: Record<string, string>,
    body: unknown,
  ): Promise<RestAnswer & { headers?: Record<string, string> }> {
    if (!IDEMPOTENCY_KEY_FORMAT.test(key)) {
      throw new RestError(400, 'invalid_request_error', 'bad_user_input', 'Idempotency-Key must be 1-255 printable ASCII characters');
    }
    const fingerprint = await requestFingerprint(app, principal, {
      operationName: `${route.method} ${route.path}`,
      document: pathname,
      variables: body ?? null,
    });
    const outcome = await begin(app, principal, key, fingerprint).catch((err: unknown) => {
      if (!(err instanceof UncertainClaim)) throw err;
      abandon(app, err.claim).catch((e: unknown) => log.warn({ err: e }, 'could not release the idempotency key'));
      throw err.cause;
    });
    switch (outcome.kind) {
      case 'replay':
        return { ...(outcome.response as RestAnswer), headers: { 'idempotent-replayed': 'true' } };
      case 'conflict':
        throw new RestError(
          409,
          'idempotency_error',
          'idempotency_conflict',
          'Idempotency-Key was already used with a different request or api key',
        );
      case 'busy':
        throw new RestError(
          409,
          'idempotency_error',
          'idempotency_key_in_use',
          'A request with this Idempotency-Key is still in progress; retry later',
          { headers: { 'retry-after': '1' } },
        );
      case 'execute':
        break;
    }
    const { claim } = outcome;
    let answer: RestAnswer;
    try {
      answer = await route.handle({ app, principal, params: pathParams, body, idempotency: { keyId: claim.id, fingerprint } });
    } catch (err) {
      const e = toRestError(err, route.fieldName, log);
      // A fault is not an answer worth replaying: the key is released so a retry acts.
      if (e.status >= 500 || e.code === 'idempotency_conflict') {
        await abandon(app, claim).catch((a: unknown) => log.warn({ err: a }, 'could not release the idempotency key'));
        throw e;
      }
      answer = { status: e.status, body: e.body() };
    }
    // Deleting a payment method or customer the request or its answer names deletes the kept answer too.
    const refs = new References();
    refs.scan(pathname);
    refs.scan(JSON.stringify(body ?? null));
    refs.scan(JSON.stringify(answer.body));
    try {
      if (!(await complete(app, claim, { status: answer.status, body: answer.body }, refs.ids))) {
        log.warn({ idempotencyKey: claim.id }, 'idempotency key was taken over before its response was stored');
      }
    } catch (err) {
      log.error({ err, idempotencyKey: claim.id }, 'could not record the idempotency key outcome');
    }
    return answer;
  }

  async function readBody<S extends z.ZodType>(request: Request, schema: S): Promise<z.output<S>> {
    const text = await request.text();
    if (text.trim() === '') throw new RestError(400, 'invalid_request_error', 'bad_request', 'A JSON request body is required');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // A form or another declared type (curl -d without a JSON Content-Type still parses when its text is
      // JSON): say what the route reads, as GraphQL's 415 does. Never the parser's message: it quotes the body.
      if (!jsonOrUntyped(request.headers.get('content-type'))) {
        throw new RestError(
          415,
          'invalid_request_error',
          'unsupported_media_type',
          'The request body must be JSON (Content-Type: application/json); form and other bodies are not read',
        );
      }
      throw new RestError(400, 'invalid_request_error', 'bad_request', 'The request body is not valid JSON');
    }
    const result = schema.safeParse(parsed, { error: restMessage });
    if (result.success) return result.data;
    throw validationError(
      result.error.issues.map((issue) => ({ path: issue.path.map(String), code: 'INVALID_INPUT', message: issue.message })),
      (path) => path.join('.') || '(body)',
    );
  }
}

/** No Content-Type, or a JSON one (`application/json`, `application/*+json`, with parameters). */
function jsonOrUntyped(contentType: string | null): boolean {
  if (contentType === null) return true;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === '' || type === 'text/plain' || /^application\/(?:[\w.+-]+\+)?json$/.test(type);
}

/** The shared messages (never the input), and unknown fields named (shortened, card numbers masked). */
const restMessage: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'unrecognized_keys') {
    return `Unknown field(s): ${scrubText(issue.keys.map((k) => k.slice(0, 40)).join(', '))}`;
  }
  return messageFor(issue);
};

function params(names: string[], values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  names.forEach((name, i) => {
    let value = values[i] ?? '';
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not percent-encoded text: kept as sent; it names nothing.
    }
    // A NUL cannot reach PostgreSQL in a text parameter: it becomes U+FFFD, and the id then matches nothing.
    out[name] = value.replace(/\0/g, '\uFFFD');
  });
  return out;
}

function methodNotAllowed(methods: string[]): Response {
  return json(405, new RestError(405, 'invalid_request_error', 'method_not_allowed', `Use ${methods.join(' or ')}`).body(), {
    allow: methods.join(', '),
  });
}
