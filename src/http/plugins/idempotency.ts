import type { App } from '../../app/app.js';
import {
  defaultFieldResolver,
  getNamedType,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  isAbstractType,
  isInterfaceType,
  isLeafType,
  isObjectType,
  Kind,
  print,
  type DocumentNode,
  type ExecutionResult,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { collectFields } from 'graphql/execution/collectFields.js';
import { isAsyncIterable, isPromise, type Plugin } from 'graphql-yoga';
import type { RequestContext } from '../context.js';
import {
  abandon,
  begin,
  complete,
  IDEMPOTENCY_STALE_MS,
  requestFingerprint,
  UncertainClaim,
  type Claim,
} from '../../domain/idempotency/idempotency.js';
import { Code, type RequestCode } from '../../domain/shared/errors.js';
import { requestError } from '../requestErrors.js';
import { CARD_DATA } from '../../schema/common.js';

/** What an Idempotency-Key may be (the REST dialects check it too, src/http/routes/rest/router.ts). */
export const IDEMPOTENCY_KEY_FORMAT = /^[\x20-\x7e]{1,255}$/;

/**
 * `Idempotency-Key` on mutations (the rules are in domain/idempotency.ts). Hooks execution, so the api key
 * has already been resolved: an unauthenticated request never reaches the store. The outcome is recorded
 * from `onExecutionResult`, after error masking and even when execution threw, so what is stored and
 * replayed is exactly what the first caller received.
 */
export function useIdempotency(app: App): Plugin<RequestContext> {
  const { log } = app;
  const claims = new WeakMap<object, Claim>();
  const replayed = new WeakSet<Request>();
  return {
    // Both hooks are synchronous unless the request carries a key: an async hook makes every request's
    // execution wait a turn for it.
    onExecute({ args, setResultAndStopExecution }) {
      const { request, principal } = args.contextValue;
      const key = request.headers.get('idempotency-key');
      if (key === null) return;
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'mutation') return;
      // What the document does is decided from the root fields execution will run (fragments, inline
      // fragments, @skip/@include and aliases resolved as graphql-js resolves them), never from its text.
      const fields = rootFields(args.schema, args.document, operation, args.variableValues);
      // Variables that do not coerce: execution answers the error and runs nothing; there is nothing to keep.
      if (!fields) return;
      const cardData = fields.filter((f) => returnsCardData(args.schema, f));
      if (cardData.length > 0) {
        // A reveal changes nothing and its answer is a full card: never kept for replay, so it runs (and is
        // audited) every time. Alongside another mutation the key would silently stop protecting that one.
        if (cardData.length === fields.length) return;
        setResultAndStopExecution(
          failure(
            Code.BAD_USER_INPUT,
            `Idempotency-Key cannot cover ${cardData.join(', ')}, which returns card data, together with other mutations: send them separately`,
            400,
          ),
        );
        return;
      }
      if (!IDEMPOTENCY_KEY_FORMAT.test(key)) {
        setResultAndStopExecution(failure(Code.BAD_USER_INPUT, 'Idempotency-Key must be 1-255 printable ASCII characters', 400));
        return;
      }
      return (async () => {
        const document = print(args.document);
        const fingerprint = await requestFingerprint(app, principal, {
          operationName: args.operationName ?? null,
          document,
          variables: args.variableValues,
        });
        const outcome = await begin(app, principal, key, fingerprint).catch((err: unknown) => {
          // The claim's insert may have committed with its answer lost: release it once the database is back.
          if (!(err instanceof UncertainClaim)) throw err;
          abandonLater(err.claim, err.cause);
          throw err.cause;
        });
        switch (outcome.kind) {
          case 'execute': {
            claims.set(args.contextValue, outcome.claim);
            // For mutations that record the key in their own transaction (createPayment).
            args.contextValue.idempotency = { keyId: outcome.claim.id, fingerprint };
            // The ids the request names (deletePaymentMethod(id: …), forwardRequest's paymentMethodId, …);
            // the resolvers add those of every object the response is made of (trackReferences).
            const references = new References();
            references.scan(document);
            references.scan(JSON.stringify(args.variableValues ?? {}));
            args.contextValue.references = references;
            return;
          }
          case 'replay':
            replayed.add(request);
            setResultAndStopExecution(revive(outcome.response));
            return;
          case 'conflict':
            setResultAndStopExecution(
              failure(Code.IDEMPOTENCY_CONFLICT, 'Idempotency-Key was already used with a different operation, variables or api key', 409),
            );
            return;
          case 'busy':
            setResultAndStopExecution(
              failure(Code.IDEMPOTENCY_KEY_IN_USE, 'A request with this Idempotency-Key is still in progress; retry later', 409, {
                'retry-after': '1',
              }),
            );
            return;
        }
      })();
    },
    onExecutionResult({ result, context }) {
      const claim = claims.get(context);
      if (!claim) return;
      claims.delete(context);
      return record(claim, result, (context as Partial<RequestContext>).references?.ids ?? []);
    },
    onResponse({ request, response }) {
      if (replayed.has(request)) response.headers.set('idempotent-replayed', 'true');
    },
  };

  async function record(
    claim: Claim,
    result: ExecutionResult | AsyncIterable<unknown> | null | undefined,
    refs: Iterable<string>,
  ): Promise<void> {
    try {
      // A fault is not an answer worth replaying for 24 hours: release the key so a retry acts. After a lost
      // database connection the mutation may have committed: a retry acts again, which is harmless for every
      // mutation (a duplicate tokenization finds its card) and finds the payment a createPayment committed
      // (it records the key in its own transaction).
      if (!result || isAsyncIterable(result) || result.errors?.some((e) => RELEASING.has(e.extensions?.code as string))) {
        await abandon(app, claim).catch((err: unknown) => abandonLater(claim, err));
      } else if (!(await complete(app, claim, result, refs))) {
        log.warn({ idempotencyKey: claim.id }, 'idempotency key was taken over before its response was stored');
      }
    } catch (err) {
      // The mutation did act: its caller still gets the real answer; the key stays IN_PROGRESS until stale.
      log.error({ err, idempotencyKey: claim.id }, 'could not record the idempotency key outcome');
    }
  }

  /**
   * The database was away (the failover that failed the request): keep trying to release the key, or a
   * retry would wait until the claim goes stale (a minute). Bounded by that minute; never keeps the process up.
   */
  function abandonLater(claim: Claim, first: unknown, attempt = 1): void {
    if (attempt === 1) log.warn({ err: first, idempotencyKey: claim.id }, 'could not release the idempotency key; retrying');
    if (Date.now() - claim.claimedAt.getTime() > IDEMPOTENCY_STALE_MS) return;
    const timer = setTimeout(
      () => {
        abandon(app, claim).catch(() => abandonLater(claim, undefined, attempt + 1));
      },
      Math.min(2000, 100 * 2 ** attempt),
    );
    timer.unref();
  }
}

/**
 * Request errors after which the key is released (the request did not get an answer worth replaying). An
 * IDEMPOTENCY_CONFLICT raised while executing (a payment already holds the key for another request) must not
 * take the key over from that request either.
 */
const RELEASING: ReadonlySet<string> = new Set([Code.INTERNAL_SERVER_ERROR, Code.SERVICE_UNAVAILABLE, Code.IDEMPOTENCY_CONFLICT]);

function failure(code: RequestCode, message: string, status: number, headers?: Record<string, string>): ExecutionResult {
  return { errors: [requestError(code, message, { status, headers })] };
}

type StoredResult = Omit<ExecutionResult, 'errors'> & {
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
};

/** Stored errors are JSON; yoga derives the HTTP status from GraphQLError instances, so rebuild them. */
function revive(response: unknown): ExecutionResult {
  const { errors, ...rest } = response as StoredResult;
  return errors ? { ...rest, errors: errors.map((e) => new GraphQLError(e.message, { path: e.path, extensions: e.extensions })) } : rest;
}

// ---------------------------------------------------------------------------------------------------------
// What a document does.

/**
 * The Mutation fields execution will run, by field name (not alias), as graphql-js collects them: through
 * named and inline fragments, with @skip/@include evaluated on the coerced variables. Null when the
 * variables do not coerce (execution then runs nothing).
 */
function rootFields(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  rawVariables: Record<string, unknown> | null | undefined,
): string[] | null {
  const root = schema.getMutationType();
  if (!root) return [];
  const variables = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {}, { maxErrors: 1 });
  if (variables.errors) return null;
  const fragments: Record<string, FragmentDefinitionNode> = Object.create(null);
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
  const collected = collectFields(schema, fragments, variables.coerced, root, operation.selectionSet);
  const names = new Set<string>();
  for (const nodes of collected.values()) {
    const name = nodes[0]!.name.value;
    if (!name.startsWith('__')) names.add(name); // __typename: meta, runs nothing
  }
  return [...names];
}

const cardDataFields = new WeakMap<GraphQLSchema, ReadonlySet<string>>();

/**
 * Whether the Mutation field's result type can contain full card data: it reaches, through fields, union
 * members or interface implementations, a type marked CARD_DATA (RevealedCard). By type, not by name: a
 * mutation added later that returns a revealed card is covered without anyone remembering this list.
 */
export function returnsCardData(schema: GraphQLSchema, fieldName: string): boolean {
  let fields = cardDataFields.get(schema);
  if (!fields) {
    // Fixpoint over the type graph: a type reaches card data if it is marked, or one of its fields' types,
    // union members or implementations does.
    const reaching = new Set<GraphQLNamedType>();
    const children = (type: GraphQLNamedType): GraphQLNamedType[] => [
      ...(isAbstractType(type) ? schema.getPossibleTypes(type) : []),
      ...(isObjectType(type) || isInterfaceType(type) ? Object.values(type.getFields()).map((f) => getNamedType(f.type)) : []),
    ];
    const types = Object.values(schema.getTypeMap());
    for (const type of types) if (isObjectType(type) && type.extensions?.holdsCardData === CARD_DATA.holdsCardData) reaching.add(type);
    for (let changed = true; changed; ) {
      changed = false;
      for (const type of types) {
        if (!reaching.has(type) && children(type).some((c) => reaching.has(c))) {
          reaching.add(type);
          changed = true;
        }
      }
    }
    const root = schema.getMutationType();
    fields = new Set(
      root
        ? Object.values(root.getFields())
            .filter((f) => reaching.has(getNamedType(f.type)))
            .map((f) => f.name)
        : [],
    );
    cardDataFields.set(schema, fields);
  }
  return fields.has(fieldName);
}

// ---------------------------------------------------------------------------------------------------------
// What a stored response refers to.

/** Payment method and customer ids, the subjects whose deletion deletes a stored response. */
const SUBJECT_ID = /^(?:pm|cus)_[0-9A-Za-z]{22}$/;
const SUBJECT_IDS = /(?<![0-9A-Za-z_])(?:pm|cus)_[0-9A-Za-z]{22}(?![0-9A-Za-z])/g;

/** Collected while an idempotent mutation executes; stored with its response as `refs`. */
export class References {
  readonly ids = new Set<string>();
  private readonly seen = new WeakSet<object>();

  scan(text: string): void {
    for (const [id] of text.matchAll(SUBJECT_IDS)) this.ids.add(id);
  }

  /** The ids among a resolved object's own values (a payment method row: its id and its customerId). */
  note(value: unknown): void {
    if (Array.isArray(value)) {
      for (const item of value) this.note(item);
      return;
    }
    // A pending value (a resolver's promise, or an item of a list): noted when it resolves, which is before
    // execution completes (execution awaits it) and so before the response and its references are stored.
    if (isPromise(value)) {
      value.then(
        (resolved) => this.note(resolved),
        () => undefined,
      );
      return;
    }
    if (typeof value !== 'object' || value === null || this.seen.has(value)) return;
    this.seen.add(value);
    for (const v of Object.values(value)) if (typeof v === 'string' && SUBJECT_ID.test(v)) this.ids.add(v);
  }
}

const tracked = new WeakSet<GraphQLSchema>();

/**
 * Wraps the resolver of every field that returns objects (root fields included) so that, while an idempotent
 * mutation executes (context.references set), each object the response is built from adds the payment method
 * and customer ids it holds: every object a response shows was returned by such a field. A response that
 * shows a payment method without selecting its id refers to it all the same. Fields of scalars and enums are
 * left alone: they return no object, and an unwrapped field keeps graphql-jit's inlined property read (a
 * wrapper on every field made the masked read's eight fields eight resolver calls). Outside such a request
 * the wrapper costs one property read.
 */
export function trackReferences(schema: GraphQLSchema): GraphQLSchema {
  if (tracked.has(schema)) return schema;
  tracked.add(schema);
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    wrapFields(type);
  }
  return schema;
}

function wrapFields(type: GraphQLObjectType): void {
  for (const field of Object.values(type.getFields())) {
    if (isLeafType(getNamedType(field.type))) continue;
    const resolve = field.resolve ?? defaultFieldResolver;
    field.resolve = (parent, args, context: Partial<RequestContext>, info) => {
      const references = context.references;
      if (!references) return resolve(parent, args, context, info);
      const result: unknown = resolve(parent, args, context, info);
      references.note(result);
      return result;
    };
  }
}
