import type { IncomingMessage, ServerResponse } from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { Kind, validate, visit, type DocumentNode, type ValueNode } from 'graphql';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { GRAPHQL_LIMITS } from '../../app/config.js';
import { Code } from '../../domain/shared/errors.js';
import { errorsBody, requestError } from '../requestErrors.js';

// What a GraphQL document may cost, from well-kept plugins: graphql-armor refuses documents over the depth,
// alias, cost, token and directive limits during validation, so before anything executes (HTTP 400,
// GRAPHQL_VALIDATION_FAILED). Introspection is off in production unless VAULT_INTROSPECTION=true, and so are
// "did you mean" suggestions (which leak the schema; removed in yoga.ts's error redaction).
// Batching (off) is a yoga option, set in yoga.ts; the body-size limit (413) is `useBodyLimit` below.

export interface LimitOptions {
  log: Logger;
  introspection: boolean;
}

export function graphqlLimits({ log, introspection }: LimitOptions): Plugin[] {
  // graphql-armor's own refusal is a bare `GraphQLError("Syntax Error: … limit of N exceeded")`: no code, and
  // yoga answers it HTTP 200. Each limit answers instead with this one refusal: 400 GRAPHQL_VALIDATION_FAILED
  // (the token limit too, although it is counted while parsing: the document is not malformed, it is too big).
  const onReject = [
    (_ctx: unknown, error: Error) => {
      const message = error.message.replace(/^Syntax Error: /, '');
      log.warn({ reason: message }, 'document refused by GraphQL limits');
      throw requestError(Code.GRAPHQL_VALIDATION_FAILED, message, { status: 400 });
    },
  ];
  const costLimit = { maxCost: GRAPHQL_LIMITS.maxCost, objectCost: 1, scalarCost: 1, depthCostFactor: 1, flattenFragments: true, onReject };
  return [
    EnvelopArmorPlugin({
      // Fragments count by what they select, not as levels of their own.
      maxDepth: { n: GRAPHQL_LIMITS.maxDepth, flattenFragments: true, onReject },
      // Every alias counts: armor leaves `__typename` out by default, and 1,000 `a: __typename` are as many
      // results to build and serialise as any other field.
      maxAliases: { n: GRAPHQL_LIMITS.maxAliases, allowList: [], onReject },
      costLimit,
      maxTokens: { n: GRAPHQL_LIMITS.maxTokens, onReject },
      maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives, onReject },
      // Suggestions are removed from every error (not only validation's field suggestions, which is all
      // armor's blocker sees) where errors are redacted: yoga.ts, useErrorRedaction.
      blockFieldSuggestion: { enabled: false },
    }) as Plugin,
    useVariablePageCost(costLimit),
    ...(introspection ? [] : [useDisableIntrospection() as Plugin]),
    // Browsers send "simple" requests (GET, form posts) without a preflight; those must carry one of these
    // headers, which a page on another origin cannot set without CORS allowing it.
    useCSRFPrevention({ requestHeaders: ['api-key', 'authorization', 'x-graphql-yoga-csrf'] }) as Plugin,
  ];
}

/** Per route body limits (bytes): every path has one; the first matching prefix wins, `fallback` otherwise. */
export interface BodyLimits {
  routes: ReadonlyArray<{
    path: string;
    prefix?: boolean;
    limit: number;
    /** The refusal's body on this route (default: a GraphQL error). */
    refusal?: (status: 400 | 413, message: string) => unknown;
  }>;
  fallback: number;
}

function bodyLimitFor(limits: BodyLimits, pathname: string) {
  return limits.routes.find((r) => (r.prefix ? pathname.startsWith(r.path) : pathname === r.path));
}

/** The error a body over its route's limit fails with (GraphQL answers it as 413; routes catch it with isBodyTooLarge). */
const bodyTooLarge = () => requestError(Code.REQUEST_ENTITY_TOO_LARGE, 'Request body too large', { status: 413 });

export function isBodyTooLarge(err: unknown): boolean {
  return err instanceof Error && (err as { extensions?: { code?: unknown } }).extensions?.code === Code.REQUEST_ENTITY_TOO_LARGE;
}

/**
 * Every request's body is limited by its route, before any handler reads it (a handler that reads the whole
 * body then checks its size has already spent the memory). A Content-Length over the limit answers 413 at
 * once, nothing read; with a valid Content-Length Node's parser never reads past it, so the header is enough.
 * Bodies without one (chunked) are counted as they arrive and fail past the limit, so no reader ever holds more
 * than the limit. (Yoga's own maxRequestBodySize streamed every body: about 4% of a masked read in the profile.)
 */
export function useBodyLimit(limits: BodyLimits): Plugin {
  return {
    onRequest({ request, url, serverContext, setRequest, endResponse, fetchAPI }) {
      if (request.method === 'GET' || request.method === 'HEAD') return;
      const route = bodyLimitFor(limits, url.pathname);
      const limit = route?.limit ?? limits.fallback;
      const contentLength = request.headers.get('content-length');
      const refuse = (status: 400 | 413, message: string) =>
        endResponse(
          new fetchAPI.Response(
            JSON.stringify(
              route?.refusal?.(status, message) ?? errorsBody(status === 413 ? Code.REQUEST_ENTITY_TOO_LARGE : Code.BAD_REQUEST, message),
            ),
            {
              status,
              headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
            },
          ),
        );
      if (contentLength !== null) {
        // One non-negative integer only (comma-joined values are request-smuggling attempts).
        if (!/^\d+$/.test(contentLength)) return refuse(400, 'Content-Length header is invalid.');
        if (Number(contentLength) > limit) return refuse(413, 'Request body too large');
        return;
      }
      if (!request.body) return;
      const req = (serverContext as { req?: IncomingMessage }).req;
      const counted = req?.readable ? countedBody(req, limit) : countedStream(request.body, limit, fetchAPI.TransformStream);
      setRequest(
        new fetchAPI.Request(request.url, {
          method: request.method,
          headers: request.headers,
          signal: request.signal,
          body: counted,
          duplex: 'half',
        } as RequestInit),
      );
    },
    onResponse({ response }) {
      // The rest of a refused body is never read: a kept-alive connection would stall behind it (the
      // client's next request then waits for the request timeout and a reset). Close it instead.
      if (response.status === 413) response.headers.set('connection', 'close');
    },
  };
}

/**
 * The cost limit again, with the variables' page sizes. Validation sees no variables, so armor costs
 * `paymentMethods(first: $n)` as a page of one: the generated client's documents (which all take `first` as
 * a variable) would pass at any size. Before execution, a document whose `first`/`last` is a variable is
 * costed once more with the variables' values written in; others (the hot path) skip this at once.
 */
function useVariablePageCost(costLimit: Parameters<typeof costLimitRule>[0]): Plugin {
  const pagedByVariable = new WeakMap<DocumentNode, boolean>();
  const rule = costLimitRule(costLimit);
  return {
    onExecute({ args, setResultAndStopExecution }) {
      let paged = pagedByVariable.get(args.document);
      if (paged === undefined) {
        paged = false;
        visit(args.document, {
          Argument(node) {
            if ((node.name.value === 'first' || node.name.value === 'last') && node.value.kind === Kind.VARIABLE) paged = true;
          },
        });
        pagedByVariable.set(args.document, paged);
      }
      if (!paged) return;
      const variables = (args.variableValues ?? {}) as Record<string, unknown>;
      const withValues = visit(args.document, {
        Argument(node) {
          if ((node.name.value !== 'first' && node.name.value !== 'last') || node.value.kind !== Kind.VARIABLE) return undefined;
          const value = variables[node.value.name.value];
          const literal: ValueNode = Number.isInteger(value) ? { kind: Kind.INT, value: String(value) } : { kind: Kind.NULL };
          return { ...node, value: literal };
        },
      });
      try {
        validate(args.schema, withValues, [rule]);
      } catch (err) {
        setResultAndStopExecution({ errors: [err as GraphQLError] });
      }
    },
  };
}

/**
 * The body of a Node request, failing with bodyTooLarge once more than `limit` bytes arrived. Read from the
 * IncomingMessage itself so that the refusal does not destroy it (and its socket) before the 413 is written:
 * past the limit, nothing more is read.
 */
function countedBody(req: IncomingMessage, limit: number): ReadableStream<Uint8Array> {
  let read = 0;
  let refused = false;
  let listening = false;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        // The first read starts the flow: a body nobody reads stays unread (Node drops it on a kept-alive connection).
        if (!listening) {
          listening = true;
          req.on('data', (chunk: Buffer) => {
            if (refused) return;
            read += chunk.byteLength;
            if (read > limit) {
              refused = true;
              req.pause();
              controller.error(bodyTooLarge());
              return;
            }
            controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
            if ((controller.desiredSize ?? 1) <= 0) req.pause();
          });
          req.once('end', () => refused || controller.close());
          req.once('error', (err) => refused || controller.error(err));
        }
        req.resume();
      },
      cancel() {
        refused = true;
        req.pause();
      },
    },
    { highWaterMark: 0 },
  );
}

/** A fetch body (no Node request behind it, as with yoga.fetch) counted the same way. */
function countedStream(
  body: ReadableStream<Uint8Array>,
  limit: number,
  FetchTransform: typeof TransformStream,
): ReadableStream<Uint8Array> {
  let read = 0;
  // A native stream needs the native TransformStream (yoga does the same, graphql-yoga#4583).
  const Transform = body instanceof ReadableStream ? globalThis.TransformStream : FetchTransform;
  return body.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > limit) controller.error(bodyTooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
}

/** How long a connection closed before its request body ended is held open for the client to read the answer. */
const LINGER_MS = 2_000;

/**
 * Node closes a `connection: close` response's socket as soon as the answer is written; a client still
 * sending its body (a 413, or any answer given without reading the body) then gets a reset, and the reset
 * discards the answer it has not read yet. Such a connection is half-closed instead and held, without reading
 * another byte of the body, until the client closes it or LINGER_MS pass; Node's own "dump" (which reads and
 * drops the rest of an unread body, all of it) is stopped. Kept-alive connections are left to Node. Called for
 * every request.
 */
export function lingerUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  res.once('finish', () => {
    // Node's resOnFinish ran first: for a closing connection, destroySoon() ended the socket and destroys it
    // once the end is written.
    if (req.complete || socket.destroyed || !socket.listeners('finish').includes(socket.destroy)) return;
    socket.removeListener('finish', socket.destroy);
    req.pause();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}
