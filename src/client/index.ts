import { GraphQLClient, type RequestOptions, type Variables } from 'graphql-request';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';

export * from './generated/graphql.js';

export interface VaultClientOptions {
  /** e.g. http://127.0.0.1:4000/graphql */
  url: string;
  /** A secret key (sk_test_… / sk_live_…), or a publishable key for createCardToken. */
  apiKey: string;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

/**
 * A typed Vault client: pass any generated document (e.g. TokenizeCardDocument) and its variables;
 * the result is typed from the operation.
 */
export function createVaultClient(options: VaultClientOptions) {
  const client = new GraphQLClient(options.url, {
    headers: { 'api-key': options.apiKey, ...options.headers },
    ...(options.fetch && { fetch: options.fetch }),
  });
  return {
    request<TResult, TVariables extends Variables>(
      document: TypedDocumentNode<TResult, TVariables>,
      variables?: TVariables,
      headers?: Record<string, string>,
    ): Promise<TResult> {
      return client.request({ document, variables, requestHeaders: headers } as unknown as RequestOptions<TVariables, TResult>);
    },
    raw: client,
  };
}

export type VaultClient = ReturnType<typeof createVaultClient>;
