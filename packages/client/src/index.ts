import { GraphQLClient, type RequestMiddleware, type RequestOptions, type Variables } from 'graphql-request';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';

export * from './generated/graphql.js';

export interface VaultClientOptions {
  /** The vault's address (`http://127.0.0.1:4000`) or its GraphQL endpoint (`http://127.0.0.1:4000/graphql`). */
  url: string;
  /** A secret key (sk_test_… / sk_live_…), or a publishable key for createCardToken. */
  apiKey: string;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /**
   * Send each generated operation by its id (`{"documentId": "sha256:…"}`) instead of its text: the server
   * must have it registered (`vault documents push`). A document without an id (not generated with
   * persistedDocuments) fails before anything is sent, and a server that does not know the id answers
   * PERSISTED_DOCUMENT_NOT_FOUND: the text is never sent instead.
   */
  trustedDocuments?: boolean;
}

/** The GraphQL endpoint of a vault given by its address or by the endpoint itself. */
export function graphqlEndpoint(url: string): string {
  const endpoint = new URL(url);
  if (!/\/graphql\/?$/.test(endpoint.pathname)) endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, '')}/graphql`;
  return endpoint.toString();
}

/** Carries a request's document id from `request` to the body rewrite below; never sent. */
const DOCUMENT_ID_HEADER = 'x-vault-client-document-id';

/** The id GraphQL Code Generator's client preset put on a generated document (`persistedDocuments: true`). */
export function documentIdOf(document: unknown): string | undefined {
  const hash = (document as { __meta__?: { hash?: unknown } } | null)?.__meta__?.hash;
  return typeof hash === 'string' ? hash : undefined;
}

/** The JSON body graphql-request built, with the document's id in place of its text. */
const sendDocumentId: RequestMiddleware = (request) => {
  const headers = request.headers instanceof Headers ? request.headers : new Headers(request.headers);
  const id = headers.get(DOCUMENT_ID_HEADER);
  if (id === null) return request;
  headers.delete(DOCUMENT_ID_HEADER);
  if (typeof request.body !== 'string') throw new Error('trustedDocuments: only POST requests can send a document id');
  const { query: _text, ...body } = JSON.parse(request.body) as Record<string, unknown>;
  return { ...request, headers, body: JSON.stringify({ documentId: id, ...body }) };
};

/**
 * A typed Vault client: pass any generated document (e.g. TokenizeCardDocument) and its variables;
 * the result is typed from the operation.
 */
export function createVaultClient(options: VaultClientOptions) {
  const client = new GraphQLClient(graphqlEndpoint(options.url), {
    headers: { 'api-key': options.apiKey, ...options.headers },
    ...(options.fetch && { fetch: options.fetch }),
    ...(options.trustedDocuments && { requestMiddleware: sendDocumentId }),
  });
  return {
    request<TResult, TVariables extends Variables>(
      document: TypedDocumentNode<TResult, TVariables>,
      variables?: TVariables,
      headers?: Record<string, string>,
    ): Promise<TResult> {
      let requestHeaders = headers;
      if (options.trustedDocuments) {
        const id = documentIdOf(document);
        if (!id) {
          return Promise.reject(new Error('trustedDocuments: this document has no id (not a generated document with persistedDocuments)'));
        }
        requestHeaders = { ...headers, [DOCUMENT_ID_HEADER]: id };
      }
      return client.request({ document, variables, requestHeaders } as unknown as RequestOptions<TVariables, TResult>);
    },
    raw: client,
  };
}

export type VaultClient = ReturnType<typeof createVaultClient>;
