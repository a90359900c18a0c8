import { GraphQLError } from 'graphql';
import type { RequestCode } from '../domain/shared/errors.js';

export interface RequestErrorOptions {
  /** The HTTP status, for an error that ends the request (a field's error leaves the response 200). */
  status?: number;
  /** Response headers sent with `status` (e.g. retry-after). */
  headers?: Record<string, string>;
  /** The field error this one replaces: its place in the document and the result. */
  at?: GraphQLError;
}

/** A GraphQL error with its `extensions.code` (docs/api.md, "GraphQL errors"): a refusal, or a masked fault. */
export function requestError(code: RequestCode, message: string, { status, headers, at }: RequestErrorOptions = {}): GraphQLError {
  return new GraphQLError(message, {
    nodes: at?.nodes,
    path: at?.path,
    extensions: { code, ...(status !== undefined && { http: { status, ...(headers && { headers }) } }) },
  });
}

/** A refusal answered outside GraphQL's pipeline, in the shape GraphQL answers errors: `{ errors: [{ message, extensions: { code } }] }`. */
export function errorsBody(code: string, message: string): { errors: { message: string; extensions: { code: string } }[] } {
  return { errors: [{ message, extensions: { code } }] };
}
