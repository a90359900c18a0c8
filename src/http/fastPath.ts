import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  getOperationAST,
  NoSchemaIntrospectionCustomRule,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { processRegularResult, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { RequestContext } from './context.js';
import type { TrustedDocumentStore, TrustedDocumentsPolicy } from './plugins/trustedDocuments.js';
import { Code } from '../domain/shared/errors.js';
import { errorsBody } from './requestErrors.js';
import { DOCUMENT_ID } from '../domain/trustedDocuments/trustedDocuments.js';
import { countRequestErrors, recordFastPath } from './plugins/metrics.js';

// The GraphQL requests of a typical integration (a JSON POST to /graphql from a server: a key, no Origin, no
// Idempotency-Key) taken from Node's request straight to the envelop pipeline yoga builds (the same parse and
// validation caches, graphql-armor's limits, the context factory, and every execution hook: metrics, cursor
// and page-cost checks, variable error codes, error masking, the compiled executor), without yoga's HTTP layer:
// the Fetch API Request, body stream and Response that yoga makes of every Node request, and the request
// hooks that only other routes and other kinds of request need. What yoga's HTTP hooks do for such a request
// is done here the same way: the body limit (a Content-Length within it), authentication before the body is
// read (yoga.ts's context, shared), the introspection block, trusted documents (the same store, id check and
// policy), error redaction (yoga.ts's redactor), the answer's media type, status and headers (yoga's own result
// processor), and the request log.
//
// Anything else goes to yoga untouched, and so does any request this path would answer differently: a refused
// key, a body that is not a plain `{query | documentId, variables?, operationName?}`, a document that does not
// parse or validate. Those are handed over before anything executes (yoga gets a Request with the body read so
// far, and the context already built, so the key is checked once). test/integration/fast-path.test.ts holds
// the two paths to the same answers. (A document graphql-armor refuses is validated twice, and the refusal
// logged twice: once here, once by yoga. Refusals only.)

type ServerContext = Record<string, unknown>;

export interface FastPathOptions {
  yoga: YogaServerInstance<ServerContext, RequestContext>;
  log: Logger;
  /** The largest body /graphql takes (bytes). */
  maxBodyBytes: number;
  /** Builds (once per Request) the request's context: yoga's own `context` factory serves the same map. */
  contextOf: (request: Request, req: IncomingMessage) => Promise<RequestContext>;
  /** The request's id, fixed for `request` (yoga.ts's request log reads it from there). */
  requestIdFor: (request: Request) => string;
  /** `to` (the request with its body) takes over `from`'s context and request id. */
  adopt: (from: Request, to: Request) => void;
  /** yoga.ts's last look at every error (useErrorRedaction). */
  redact: (result: ExecutionResult) => ExecutionResult;
  /** Introspection allowed (VAULT_INTROSPECTION). */
  introspection: boolean;
  /** Trusted documents: the policy and the store yoga's plugin uses. */
  documents: { policy: TrustedDocumentsPolicy; store: TrustedDocumentStore };
}

/** What yoga's JSON parser takes (graphql-yoga's isContentTypeMatch: the first of a list, case as sent). */
function isJson(contentType: string | undefined): boolean {
  const first = contentType?.split(',')[0];
  return first === 'application/json' || !!first?.startsWith('application/json;');
}

/** The parameters a body may hold on this path; anything else (extensions, batching) is yoga's. */
const PARAMS: ReadonlySet<string> = new Set(['query', 'documentId', 'variables', 'operationName']);

interface Params {
  query?: string;
  documentId?: string;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

/**
 * A Node request handler answering the requests it can (true), or leaving `req` untouched (false) for yoga.
 */
export function graphqlFastPath(options: FastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { maxBodyBytes } = options;
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== '/graphql') return false;
    const h = req.headers;
    if (h.origin !== undefined || h['idempotency-key'] !== undefined || h['transfer-encoding'] !== undefined) return false;
    if (!isJson(h['content-type'])) return false;
    const length = h['content-length'];
    if (length === undefined || !/^\d+$/.test(length) || Number(length) > maxBodyBytes) return false;
    const mediaType = answerMediaType(h.accept);
    if (mediaType === undefined) return false;
    void serve(options, req, res, mediaType);
    return true;
  };
}

async function serve(options: FastPathOptions, req: IncomingMessage, res: ServerResponse, mediaType: string): Promise<void> {
  const { yoga, log, contextOf, requestIdFor, adopt, redact, documents, introspection } = options;
  const started = performance.now();
  // The headers as yoga takes them: Node's parsed object (duplicates joined or dropped as Node does). No body
  // yet: the key is checked before the body is read, as on yoga's path (useAuthenticationFirst).
  const request: Request = new yoga.fetchAPI.Request(URL_OF_REQUESTS, { method: 'POST', headers: req.headers as HeadersInit });
  let body: string | undefined;
  const requestId = requestIdFor(request);
  const serverContext: ServerContext = { req, res };
  const logged = (status: number) =>
    log.info({ method: 'POST', path: '/graphql', status, requestId, ms: Math.round(performance.now() - started) }, 'request');

  // Yoga answers, from the same context (the key is not checked twice) and, once read, the same body.
  const handOver = async () => {
    recordFastPath('handed_over');
    // The body, once read, goes with it (in a Request of its own, which takes over the context and id).
    let handed = request;
    if (body !== undefined) {
      handed = new yoga.fetchAPI.Request(URL_OF_REQUESTS, { method: 'POST', headers: req.headers as HeadersInit, body });
      adopt(request, handed);
    }
    const response = await yoga.fetch(handed, serverContext);
    res.writeHead(response.status, headersOf(response)).end(Buffer.from(await response.arrayBuffer()));
  };

  try {
    // A refused key, profile or rate limit: yoga answers it at once, its body unread.
    if (
      !(await contextOf(request, req).then(
        () => true,
        () => false,
      ))
    ) {
      return await handOver();
    }
    body = await readBody(req);
    // Executed with the Request the context was built for: nothing past this point reads its body.
    const params = paramsOf(body);
    if (!params) return await handOver();
    const text = await documentText(params, documents);
    if (text === undefined) return await handOver();

    // Yoga's initial context: its server context with the request and its parameters.
    const enveloped = yoga.getEnveloped(Object.assign(serverContext, { request, params }));
    let document: ReturnType<typeof enveloped.parse>;
    try {
      document = enveloped.parse(text);
      // graphql-armor's limits refuse by throwing; yoga answers them (and any validation error) in its words.
      if (enveloped.validate(enveloped.schema, document).length > 0) return await handOver();
    } catch {
      return await handOver();
    }
    // Introspection off: the rule yoga's plugin adds (per request, in a hook this path does not run).
    if (!introspection && introspects(enveloped.schema, document)) return await handOver();
    const operation = getOperationAST(document, params.operationName)?.operation;
    if (operation !== 'query' && operation !== 'mutation') return await handOver();

    const contextValue = await enveloped.contextFactory();
    const result = (await enveloped.execute({
      schema: enveloped.schema,
      document,
      contextValue,
      variableValues: params.variables,
      operationName: params.operationName,
    })) as ExecutionResult;
    const redacted = redact(result);
    countRequestErrors(redacted);
    let status = 200;
    let out: string;
    const answer: Record<string, string> = { 'x-request-id': requestId };
    if (!redacted.errors?.length && redacted.extensions === undefined) {
      // What yoga's result processor answers for a result without errors or extensions: 200 and the JSON.
      answer['content-type'] = `${mediaType}; charset=utf-8`;
      out = JSON.stringify(redacted);
    } else {
      const response = processRegularResult(redacted, yoga.fetchAPI, mediaType);
      Object.assign(answer, headersOf(response));
      status = response.status;
      out = await response.text();
    }
    answer['content-length'] = String(Buffer.byteLength(out));
    res.writeHead(status, answer).end(out);
    recordFastPath('served');
    logged(status);
  } catch (err) {
    // A client gone before its body arrived has nobody to answer.
    if (!req.complete) return void res.destroy();
    log.error({ err }, 'unexpected error');
    if (res.headersSent) return void res.destroy();
    const body = JSON.stringify(errorsBody(Code.INTERNAL_SERVER_ERROR, 'Internal server error'));
    res
      .writeHead(500, {
        'x-request-id': requestId,
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      })
      .end(body);
    logged(500);
  }
}

/**
 * The document to run: the text sent, or the registered document the id names (the same store, policy and id
 * check as yoga's plugin); undefined when yoga must answer (text under `require`, an id under `off`, an id
 * not shaped like one, unknown, refused, or not found because the database failed: yoga then tries again and
 * answers in its words).
 */
async function documentText(params: Params, documents: FastPathOptions['documents']): Promise<string | undefined> {
  if (params.documentId === undefined) return documents.policy === 'require' ? undefined : params.query;
  if (documents.policy === 'off' || !DOCUMENT_ID.test(params.documentId)) return undefined;
  const found = await documents.store.lookup(params.documentId).catch(() => null);
  return found !== null && 'text' in found ? found.text : undefined;
}

const introspecting = new WeakMap<DocumentNode, boolean>();

/** Whether a document asks for the schema (`__schema`, `__type`): once per document (yoga's cache keeps them). */
function introspects(schema: GraphQLSchema, document: DocumentNode): boolean {
  let found = introspecting.get(document);
  if (found === undefined) {
    found = validate(schema, document, [NoSchemaIntrospectionCustomRule]).length > 0;
    introspecting.set(document, found);
  }
  return found;
}

/** A fetch Response's headers, for Node's writeHead. */
function headersOf(response: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return headers;
}

/** The URL of the Requests made here: yoga routes by path, and nothing reads the host. */
const URL_OF_REQUESTS = 'http://vault.internal/graphql';

/** The body as UTF-8 text (as yoga decodes it); Node's parser stops at the Content-Length checked before. */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8')));
    req.once('error', reject);
    req.once('close', () => req.complete || reject(new Error('request aborted')));
  });
}

/** The body's parameters when they are exactly what this path serves; undefined hands the request to yoga. */
function paramsOf(body: string): Params | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const p = value as Record<string, unknown>;
  for (const key of Object.keys(p)) if (!PARAMS.has(key)) return undefined;
  if ((p.query === undefined) === (p.documentId === undefined)) return undefined;
  if (p.query !== undefined && typeof p.query !== 'string') return undefined;
  if (p.documentId !== undefined && typeof p.documentId !== 'string') return undefined;
  if (p.operationName != null && typeof p.operationName !== 'string') return undefined;
  if (p.variables != null && (typeof p.variables !== 'object' || Array.isArray(p.variables))) return undefined;
  return p as Params;
}

/**
 * The media type yoga answers for this Accept header (its result processors: text/event-stream,
 * multipart/mixed, then the regular JSON ones; the last match wins, walking the accepted types from the end),
 * when it is one of the regular JSON ones; undefined (yoga answers) otherwise.
 */
function answerMediaType(accept: string | undefined): string | undefined {
  const asked: string[] = [];
  for (const entry of (accept || '*/*').replace(/\s/g, '').toLowerCase().split(',')) {
    const [type, ...parameters] = entry.split(';');
    const charset = parameters.find((p) => p.includes('charset=')) ?? 'charset=utf-8';
    if (type !== undefined && charset === 'charset=utf-8') asked.push(type);
  }
  asked.reverse();
  let chosen: string | undefined;
  for (const offered of [['text/event-stream'], ['multipart/mixed'], ['application/graphql-response+json', 'application/json']]) {
    for (const type of asked) for (const candidate of offered) if (matches(candidate, type)) chosen = candidate;
  }
  return chosen === 'application/json' || chosen === 'application/graphql-response+json' ? chosen : undefined;
}

/** Whether an offered media type is one the client asked for (its `*` wildcards included). */
function matches(offered: string, asked: string): boolean {
  const [offeredType, offeredSub] = offered.split('/');
  const [type, sub] = asked.split('/');
  return (type === '*' || type === offeredType) && (sub === '*' || sub === offeredSub);
}
