import { describe, expect, it } from 'vitest';
import { REST_ROUTES } from '../../src/http/routes/restDialects.js';
import { jsonSchema } from '../../src/http/routes/rest/openapi.js';
import { rest } from '../helpers/rest.js';

// GET /openapi.json documents exactly the routes served: every documented operation answers (401 without a
// key, not 404 or 405), every other method of a documented path is 405, paths beside them are 404, and the
// bodies' schemas are the routes' own zod schemas. (rest-hyperswitch.test.ts checks the answers of seed 000's
// flow against the document.)

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document of exactly the routes served', async () => {
    const res = await rest('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = res.json;
    expect(doc.openapi).toBe('3.1.0');

    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(REST_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    expect(documented).toEqual(
      expect.arrayContaining([
        'POST /v2/customers',
        'GET /v2/customers/{id}',
        'GET /v2/customers/{id}/saved-payment-methods',
        'POST /v2/payment-methods',
        'GET /v2/payment-methods/{id}',
        'PATCH /v2/payment-methods/{id}/update-saved-payment-method',
        'DELETE /v2/payment-methods/{id}',
        'POST /v1/tokens',
        'POST /v1/payments',
      ]),
    );

    for (const route of REST_ROUTES) {
      const op = doc.paths[route.path][route.method.toLowerCase()];
      if (route.body) expect(op.requestBody.content['application/json'].schema).toEqual(jsonSchema(route.body, 'input'));
      for (const [status, { schema }] of Object.entries(route.responses)) {
        const documentedSchema = op.responses[status].content['application/json'].schema;
        const own = jsonSchema(schema, 'output');
        expect(documentedSchema.oneOf ? documentedSchema.oneOf[0] : documentedSchema).toEqual(own);
      }
      for (const status of ['401', '404', '422', '500']) expect(op.responses[status]).toBeDefined();
      // Every route honours x-profile-id (403 for a foreign one), as GraphQL does.
      expect(op.parameters.map((p: { name: string; in: string }) => `${p.in} ${p.name}`)).toContain('header x-profile-id');
    }
    // Every $ref resolves.
    for (const [, ref] of JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)) {
      expect(
        ref!.split('/').reduce((node: any, key) => node?.[key], doc),
        ref,
      ).toBeDefined();
    }
  });

  it('every documented operation is served, and nothing beside them', async () => {
    const doc = (await rest('GET', '/openapi.json')).json;
    for (const [template, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      const path = template.replace(/\{\w+\}/g, 'pm_0000000000000000000000');
      for (const method of METHODS) {
        const res = await rest(method.toUpperCase(), path, { ...(method !== 'get' && method !== 'delete' && { body: {} }) });
        if (ops[method]) {
          expect(res.status, `${method} ${template}`).toBe(401);
          expect(res.json.error.type).toBe('authentication_error');
        } else {
          expect(res.status, `${method} ${template}`).toBe(405);
          expect(res.headers.get('allow')).toBe(
            Object.keys(ops)
              .map((m) => m.toUpperCase())
              .join(', '),
          );
        }
      }
    }
    for (const path of ['/v1/refunds', '/v2/payment-methods', '/v2/customers/x/y', '/v1/tokens/tok_x']) {
      const res = await rest('GET', path);
      expect([404, 405], path).toContain(res.status);
    }
    expect((await rest('GET', '/v1/refunds')).json.error).toMatchObject({ type: 'not_found_error', code: 'route_not_found' });
  });
});
