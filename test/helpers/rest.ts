import { expect, inject } from 'vitest';
import { schemaProblems } from './jsonSchema.js';
import type { RawAnswer } from './vault.js';

/** The test server's base URL (its GraphQL endpoint's origin). */
export function baseUrl(): string {
  return new URL(inject('graphqlUrl')).origin;
}

export interface RestCall {
  /** Sent as the `api-key` header. */
  key?: string;
  /** A string is sent byte for byte; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** A request to the REST dialects, answered raw (status, headers, text and parsed JSON). */
export async function rest(method: string, path: string, { key, body, headers = {} }: RestCall = {}): Promise<RawAnswer> {
  const res = await fetch(`${baseUrl()}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(key === undefined ? {} : { 'api-key': key }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** A unique token of letters (an Idempotency-Key, a request id): a digit run could pass for a card number. */
export function uniqueToken(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2).replace(/\d/g, 'x')}${Math.random().toString(36).slice(2).replace(/\d/g, 'y')}`;
}

let openapi: Promise<any> | undefined;

/**
 * The answer fits the schema GET /openapi.json gives for its route (`template`, e.g.
 * `/v2/payment-methods/{id}`) and status: the document as served, not the code behind it.
 */
export async function expectDocumented(method: string, template: string, res: RawAnswer): Promise<void> {
  openapi ??= rest('GET', '/openapi.json').then((r) => r.json);
  const doc = await openapi;
  const operation = doc.paths[template]?.[method.toLowerCase()];
  expect(operation, `${method} ${template} is documented`).toBeDefined();
  const response = operation.responses[String(res.status)];
  expect(response, `${method} ${template} documents ${res.status}`).toBeDefined();
  expect(schemaProblems(response.content['application/json'].schema, res.json, doc), `${method} ${template} ${res.status}`).toEqual([]);
}
