import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import {
  Kind,
  NoSchemaIntrospectionCustomRule,
  validate as validateWith,
  type DocumentNode,
  type GraphQLError,
  type GraphQLSchema,
} from 'graphql';
import type { GraphQLParams, Plugin, YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { App } from '../../app/app.js';
import { scrubText } from '../../card/scrub.js';
import { Code } from '../../domain/shared/errors.js';
import { checkText, DOCUMENT_ID, documentIdOf, type DocumentCheck } from '../../domain/trustedDocuments/trustedDocuments.js';
import { findDocumentText } from '../../domain/trustedDocuments/store.js';
import { requestError } from '../requestErrors.js';

// Trusted documents (persisted operations) on /graphql: a request may name a registered document by id instead
// of sending its text. `@graphql-yoga/plugin-persisted-operations` does the exchange; this file gives it the
// ids (`documentId`, or Apollo's `extensions.persistedQuery.sha256Hash`), the documents (from Postgres,
// cached), the policy and the errors.
//
// Validation: a document sent by id skips per-request validation (the plugin's skipDocumentValidation), and
// validation is where graphql-armor's depth, alias, cost and directive limits and the introspection block
// run (and the token limit runs where it parses). Every one of them has passed before a document can run by
// id, twice: `documents push` runs the server's own parse and validation (this yoga's plugins, and no
// introspection whatever VAULT_INTROSPECTION says) before storing, and each process runs them again when it first loads a document (so a document that
// the current schema no longer accepts is refused, not executed unvalidated). What depends on the variables,
// and so cannot be checked ahead, still runs on every request: the page-size cost (useVariablePageCost, at
// execution), variable coercion, cursors, authentication and rate limits.

export type TrustedDocumentsPolicy = 'off' | 'allow' | 'require';

/** Documents kept parsed and checked per process; the generated client has a few dozen at most. */
const CACHE_SIZE = 1000;
/** How long a server keeps answering a document after `documents remove`, at most. */
export const REMOVAL_DELAY_MS = 60_000;

type Enveloped = Pick<YogaServerInstance<Record<string, unknown>, Record<string, unknown>>, 'getEnveloped'>;

/**
 * The server's own verdict on a document: parsed and validated through `yoga`'s plugins (graphql-armor's
 * limits), as a request sending the text would be; no introspection, and named operations only.
 */
export function documentChecker(yoga: Enveloped): (text: string) => DocumentCheck {
  return (text) => {
    // A fresh context: the persisted-operations plugin skips validation only for contexts of requests by id.
    const { parse, validate, schema } = yoga.getEnveloped({});
    let document: DocumentNode;
    try {
      document = parse(text);
      const errors = [...validate(schema as GraphQLSchema, document)];
      // Never introspection, whatever VAULT_INTROSPECTION says: the block is tied to a request (yoga's plugin).
      if (errors.length === 0) errors.push(...validateWith(schema as GraphQLSchema, document, [NoSchemaIntrospectionCustomRule]));
      if (errors.length > 0) return { ok: false, reason: errors.map((e: GraphQLError) => scrubText(e.message)).join('; ') };
    } catch (err) {
      return { ok: false, reason: scrubText(err instanceof Error ? err.message : String(err)) };
    }
    const operationNames: string[] = [];
    for (const d of document.definitions) {
      if (d.kind !== Kind.OPERATION_DEFINITION) continue;
      if (!d.name) return { ok: false, reason: 'every operation of a trusted document must be named' };
      operationNames.push(d.name.value);
    }
    if (operationNames.length === 0) return { ok: false, reason: 'the document defines no operation' };
    return { ok: true, operationNames };
  };
}

/** The id a request names: `documentId` (body, or the query string of a GET), or Apollo's persisted-query hash. */
function documentIdOfRequest(params: GraphQLParams & { documentId?: unknown }, request: Request): string | null {
  if (params.documentId != null) return typeof params.documentId === 'string' ? params.documentId : '';
  if (request.method === 'GET') {
    const fromUrl = new URL(request.url).searchParams.get('documentId');
    if (fromUrl !== null) return fromUrl;
  }
  const apq = (params.extensions as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } } | undefined)?.persistedQuery;
  if (apq && apq.version === 1 && typeof apq.sha256Hash === 'string') return `sha256:${apq.sha256Hash}`;
  return null;
}

export interface TrustedDocumentsOptions {
  app: App;
  log: Logger;
  policy: TrustedDocumentsPolicy;
  /** Where documents are found (shared with the fast path, src/http/fastPath.ts); default: a store of its own. */
  store?: TrustedDocumentStore;
}

/** What a registered document's id resolves to: its checked text, why the current schema refuses it, or nothing. */
type StoredDocument = { text: string } | { refused: string } | null;

export interface TrustedDocumentStore {
  lookup(id: string): Promise<StoredDocument>;
  /** The server's own verdict on a document (documentChecker), set once yoga is built. */
  setChecker(check: (text: string) => DocumentCheck): void;
}

/**
 * Registered documents by id, from Postgres, checked by the server (documentChecker) and cached per process.
 * id → the checked text (or why the current schema refuses it), and when it was read; least recently used
 * first. A document's text never changes (its id is its hash), but it can be removed (`documents remove`):
 * an entry is read again after REMOVAL_DELAY_MS, so a removed document stops answering within that time.
 */
export function trustedDocumentStore({ app, log }: { app: App; log: Logger }): TrustedDocumentStore {
  let check: ((text: string) => DocumentCheck) | undefined;
  const cache = new Map<string, { at: number; entry: Promise<StoredDocument> }>();

  const load = async (id: string): Promise<StoredDocument> => {
    const text = await findDocumentText(app, id);
    if (text === null) return null;
    if (documentIdOf(text) !== id) {
      log.error({ documentId: id }, 'trusted document does not match its id: refused');
      return { refused: 'The stored document does not match its id' };
    }
    const verdict = check ? checkText(text, check) : { ok: false as const, reason: 'not checked' };
    if (!verdict.ok) {
      log.warn({ documentId: id, reason: verdict.reason }, 'trusted document no longer validates: refused');
      return { refused: `The trusted document no longer validates: ${verdict.reason}` };
    }
    return { text };
  };

  return {
    setChecker(checker) {
      check = checker;
    },
    lookup(id) {
      const now = Date.now();
      const cached = cache.get(id);
      if (cached && now - cached.at < REMOVAL_DELAY_MS) {
        cache.delete(id);
        cache.set(id, cached);
        return cached.entry;
      }
      const entry = load(id);
      const slot = { at: now, entry };
      cache.delete(id);
      cache.set(id, slot);
      // Unknown ids are not remembered (a document registered later must be found); failures are retried.
      entry.then(
        (found) => found === null && cache.get(id) === slot && cache.delete(id),
        () => cache.get(id) === slot && cache.delete(id),
      );
      if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      return entry;
    },
  };
}

export function useTrustedDocuments({ app, log, policy, store = trustedDocumentStore({ app, log }) }: TrustedDocumentsOptions): Plugin[] {
  if (policy === 'off') return [];
  const { lookup } = store;

  // The id is repeated only when it is shaped like one (sha256:<hex>): never the caller's arbitrary text.
  const notFound = (id: string) =>
    requestError(
      Code.PERSISTED_DOCUMENT_NOT_FOUND,
      DOCUMENT_ID.test(id) ? `No trusted document with id ${JSON.stringify(id)}` : 'No trusted document with the id given',
      { status: 400 },
    );

  return [
    {
      onYogaInit({ yoga }) {
        store.setChecker(documentChecker(yoga as unknown as Enveloped));
      },
      // Before the persisted-operations plugin: a request naming both a document and a text is ambiguous.
      onParams({ params }) {
        const withId = params as GraphQLParams & { documentId?: unknown };
        if (withId.documentId != null && params.query != null) {
          throw requestError(Code.BAD_REQUEST, 'Send either "query" or "documentId", not both', { status: 400 });
        }
      },
    },
    usePersistedOperations({
      allowArbitraryOperations: policy === 'allow',
      skipDocumentValidation: true,
      extractPersistedOperationId: (params, request) => documentIdOfRequest(params, request),
      async getPersistedOperation(id) {
        if (!DOCUMENT_ID.test(id)) return null;
        const found = await lookup(id);
        if (found === null) return null;
        if ('refused' in found) throw requestError(Code.GRAPHQL_VALIDATION_FAILED, found.refused, { status: 400 });
        return found.text;
      },
      customErrors: {
        notFound: ({ params, request }) => notFound(documentIdOfRequest(params, request) ?? ''),
        persistedQueryOnly: () =>
          requestError(
            Code.PERSISTED_DOCUMENT_REQUIRED,
            'This server runs trusted documents only: send {"documentId": "sha256:…"} (registered with `vault documents push`), not a query',
            { status: 400 },
          ),
        keyNotFound: () =>
          policy === 'require'
            ? requestError(Code.PERSISTED_DOCUMENT_REQUIRED, 'Missing documentId: this server runs trusted documents only', { status: 400 })
            : requestError(Code.BAD_REQUEST, 'Must provide a query string or a documentId', { status: 400 }),
      },
    }) as Plugin,
  ];
}
