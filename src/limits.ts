import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import { GRAPHQL_LIMITS } from './config.js';

// What a GraphQL document may cost, from well-kept plugins: graphql-armor refuses documents over the depth,
// alias, cost, token and directive limits during validation, so before anything executes. Introspection and
// "did you mean" suggestions (which leak the schema) are off in production unless VAULT_INTROSPECTION=true.
// The body-size limit (413) and batching (off) are yoga options, set in yoga.ts.

export interface LimitOptions {
  log: Logger;
  introspection: boolean;
}

export function graphqlLimits({ log, introspection }: LimitOptions): Plugin[] {
  const onReject = [(_ctx: unknown, error: Error) => log.warn({ reason: error.message }, 'document refused by GraphQL limits')];
  return [
    EnvelopArmorPlugin({
      // Fragments count by what they select, not as levels of their own.
      maxDepth: { n: GRAPHQL_LIMITS.maxDepth, flattenFragments: true, onReject },
      maxAliases: { n: GRAPHQL_LIMITS.maxAliases, onReject },
      costLimit: { maxCost: GRAPHQL_LIMITS.maxCost, objectCost: 1, scalarCost: 1, depthCostFactor: 1, flattenFragments: true, onReject },
      maxTokens: { n: GRAPHQL_LIMITS.maxTokens, onReject },
      maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives, onReject },
      blockFieldSuggestion: { enabled: !introspection },
    }) as Plugin,
    ...(introspection ? [] : [useDisableIntrospection() as Plugin]),
    // Browsers send "simple" requests (GET, form posts) without a preflight; those must carry one of these
    // headers, which a page on another origin cannot set without CORS allowing it.
    useCSRFPrevention({ requestHeaders: ['api-key', 'authorization', 'x-graphql-yoga-csrf'] }) as Plugin,
  ];
}
