import { z } from 'zod';
import { errorBodySchema } from './errors.js';
import type { RestRoute } from './router.js';

// `GET /openapi.json`: an OpenAPI 3.1 document generated from the route table itself (paths, methods, the
// zod schemas of bodies and answers), so a route cannot be served undocumented or documented unserved.

export const OPENAPI_PATH = '/openapi.json';

/** Errors every route may answer, besides its own answers. */
const SHARED_ERRORS: Record<number, string> = {
  400: 'Malformed or incomplete request (`invalid_request_error`).',
  401: 'Missing, unknown or revoked api key (`authentication_error`).',
  403: 'This key may not do this: a publishable key outside POST /v1/tokens, or an origin not allowed (`permission_error`).',
  404: "No such id (absent, deleted, or another merchant's or mode's).",
  409: 'Idempotency-Key used for another request, or still in progress (`idempotency_error`).',
  413: 'Request body too large.',
  415: 'A body that is not JSON, sent as a form or another type (`invalid_request_error`).',
  422: 'The card is invalid or expired, or a card token is expired or used (`card_error`); the bank account is invalid (`bank_account_error`).',
  429: 'Rate limit (`rate_limit_error`, with retry-after).',
  500: 'Unexpected fault (`api_error`); nothing about it is said.',
};

/** A JSON Schema (2020-12, OpenAPI 3.1's dialect) of a zod schema, as requests send it or answers hold it. */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const errorRef = { $ref: '#/components/schemas/Error' };

export function openApiDocument(routes: readonly RestRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    const responses: Record<string, unknown> = {};
    for (const [status, { description, schema }] of Object.entries(route.responses)) {
      const own = jsonSchema(schema, 'output');
      responses[status] = {
        description: SHARED_ERRORS[Number(status)] ? `${description} Or: ${SHARED_ERRORS[Number(status)]}` : description,
        content: { 'application/json': { schema: SHARED_ERRORS[Number(status)] ? { oneOf: [own, errorRef] } : own } },
      };
    }
    for (const [status, description] of Object.entries(SHARED_ERRORS)) {
      responses[status] ??= { description, content: { 'application/json': { schema: errorRef } } };
    }
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      security: [{ apiKey: [] }, { bearer: [] }],
      parameters: [
        ...names.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
        {
          name: 'x-profile-id',
          in: 'header',
          required: false,
          description:
            "The profile (pro_…) the request acts in: what it creates goes there, and it sees only that profile's records. Unknown, another merchant's, or not a restricted key's own: 403.",
          schema: { type: 'string', pattern: '^pro_[0-9A-Za-z]+$' },
        },
        ...(route.method === 'GET'
          ? []
          : [
              {
                name: 'Idempotency-Key',
                in: 'header',
                required: false,
                description:
                  'The same key, api key and request within 24 hours replays the first answer (with `idempotent-replayed: true`).',
                schema: { type: 'string', minLength: 1, maxLength: 255 },
              },
            ]),
      ],
      ...(route.body && {
        requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } },
      }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Vault REST dialects',
      version,
      description:
        "Hyperswitch Vault v2 (customers, payment methods) and a PSP's card token and payment API, on the same vault, keys and rules as its GraphQL API (/graphql).",
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(errorBodySchema, 'output') },
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'api-key', description: 'A secret key (sk_…); pk_… only for POST /v1/tokens.' },
        bearer: { type: 'http', scheme: 'bearer', description: 'The same key as `Authorization: Bearer …`.' },
      },
    },
  };
}
