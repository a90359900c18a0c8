import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { Kind, validate, visit, type DocumentNode, type ValueNode } from 'graphql';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { GRAPHQL_LIMITS } from './config.js';

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
      throw createGraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } });
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

/**
 * Request bodies over `limit` bytes answer 413, as yoga's own `maxRequestBodySize` does, but without
 * piping every body through a counting stream: when the request has a valid Content-Length, Node's parser
 * never reads past it, so checking the header is enough. Only bodies without one (chunked) are counted as
 * they arrive. (Yoga's version streamed every body: about 4% of a masked read in the profile.)
 */
export function useBodyLimit(limit: number): Plugin {
  const tooLarge = () => createGraphQLError('Request body too large', { extensions: { code: 'REQUEST_ENTITY_TOO_LARGE', http: { status: 413 } } });
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const contentLength = request.headers.get('content-length');
      if (contentLength !== null) {
        // One non-negative integer only (comma-joined values are request-smuggling attempts).
        if (!/^\d+$/.test(contentLength)) {
          throw createGraphQLError('Content-Length header is invalid.', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
        }
        if (Number(contentLength) > limit) throw tooLarge();
        return;
      }
      if (!requestParser || !request.body) return;
      const parse = requestParser;
      setRequestParser((req) => {
        let read = 0;
        // A native stream needs the native TransformStream (yoga does the same, graphql-yoga#4583).
        const Transform = req.body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
        const counted = req.body!.pipeThrough(
          new Transform<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              read += chunk.byteLength;
              if (read > limit) controller.error(tooLarge());
              else controller.enqueue(chunk);
            },
          }),
        );
        return parse(new fetchAPI.Request(req.url, { method: req.method, headers: req.headers, signal: req.signal, body: counted, duplex: 'half' } as RequestInit));
      });
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
