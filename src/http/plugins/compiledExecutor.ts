import {
  type ASTNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute as executeWithGraphqlJs,
  getLocation,
  getVariableValues,
  GraphQLError,
  type GraphQLSchema,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  visit,
} from 'graphql';
import { toError } from 'graphql/jsutils/toError.js';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import { isPromise, makeExecute, type Plugin } from 'graphql-yoga';

type PromiseOrValue<T> = T | Promise<T>;

// graphql-jit executes a document as JavaScript compiled for it (NOTES-jit.md). Three things it does
// differently from graphql-js are put back here, so that resolvers and clients see what graphql-js gives them:
//
// 1. Response paths. graphql-js hands each resolver an `info.path` whose `prev` is the very object its
//    parent field's resolver got; graphql-jit builds a fresh `{ key, prev: { key, prev: … } }` chain for
//    every call. Pothos' Prisma plugin (@pothos/selection-mapper) records the include mappings a planned
//    query loaded in a WeakMap keyed by those path objects (`setRowMappings`, `setLoaderMappings`) and
//    finds them again by walking `info.path.prev` (`getLoaderMapping`): with fresh objects no ancestor is
//    ever found, a relation two levels down (PaymentMethod.customer under customers → paymentMethods)
//    falls back to loading its rows again, and a nested list costs 6 statements instead of 4. Resolvers
//    here get `info.path` interned per execution: one object per response position, as graphql-js does.
// 2. Errors. graphql-jit's errors carry `locations` but no `nodes`, and no `originalError` for what it
//    raises itself (a null in a non-null field); they are rebuilt as graphql-js locates them, so error
//    masking (yoga.ts) and the `locations` clients get are unchanged.
// 3. Variables. graphql-jit coerces variables with messages of its own (and no locations); variables that
//    graphql-js would refuse are handed to it, and it refuses them in its words.
//
// Anything graphql-jit cannot compile (an unknown operation name, a document with several operations and
// none named) runs on graphql-js (yoga's executor: graphql-tools' fork of it), which answers as it always did.

interface Link {
  readonly prev: Link | undefined;
  readonly key: string | number;
  readonly typename: string | undefined;
}

interface JitPath {
  readonly prev: JitPath | undefined;
  readonly key: string | number;
}

/** Per execution (keyed by its context value): the interned links at the root of the response. */
const executions = new WeakMap<object, Map<string | number, Link>>();
/** The links under each interned link. */
const children = new WeakMap<Link, Map<string | number, Link>>();

function intern(roots: Map<string | number, Link>, path: JitPath | undefined, typename?: string): Link | undefined {
  if (!path) return undefined;
  const prev = intern(roots, path.prev);
  let siblings = prev ? children.get(prev) : roots;
  if (!siblings) {
    siblings = new Map();
    children.set(prev!, siblings);
  }
  let link = siblings.get(path.key);
  if (!link) {
    link = { prev, key: path.key, typename };
    siblings.set(path.key, link);
  }
  return link;
}

const interning = new WeakSet<GraphQLSchema>();

/**
 * Wraps every resolver of `schema` (in place, once) so that under the compiled executor `info.path` is the
 * interned link of its position. Executions of graphql-js are not registered and pass through untouched.
 */
export function internResolvePaths(schema: GraphQLSchema): GraphQLSchema {
  if (interning.has(schema)) return schema;
  interning.add(schema);
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const resolve = field.resolve;
      if (!resolve) continue;
      field.resolve = (parent, args, context, info) => {
        const roots = executions.get(context);
        // graphql-jit's info objects are made for each call: setting the path changes nobody else's.
        if (roots) (info as { path: unknown }).path = intern(roots, info.path, info.parentType.name);
        return resolve(parent, args, context, info);
      };
    }
  }
  return schema;
}

interface Compiled {
  query: CompiledQuery['query'];
  operation: OperationDefinitionNode;
  document: DocumentNode;
  /** Field (or value) nodes by where they start, built on the first error. */
  nodesAt?: Map<string, ASTNode>;
}

/** graphql-jit as the executor; the schema's resolvers must go through internResolvePaths. */
export function useCompiledExecutor(): Plugin {
  const run = compiledExecute();
  return {
    onExecute({ executeFn, setExecuteFn }) {
      // What is not compiled runs on the executor yoga would have used (graphql-tools' graphql-js).
      setExecuteFn(makeExecute((args) => run(args, executeFn as Execute)));
    },
  };
}

type Execute = (args: ExecutionArgs) => PromiseOrValue<ExecutionResult>;

/**
 * `execute` as graphql-js's, answering what it answers, each operation compiled on its `compileOn`th
 * execution and kept. Compiling costs far more than executing once (0.4 ms for the masked read, 2 ms for the
 * nested list, up to tens of ms for the largest client operations: NOTES-jit.md), so an operation run only
 * once (GraphiQL, a caller sending documents it varies) stays on graphql-js and costs no compilation.
 */
export function compiledExecute(compileOn = 2): (args: ExecutionArgs, fallback?: Execute) => PromiseOrValue<ExecutionResult> {
  // Per schema, per document (yoga parses each distinct query once and hands back the same document, while
  // it stays in its parse cache), per operation name: a document with several operations compiles each one
  // that is asked for. A number counts the executions before compiling.
  const cache = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, Map<string, Compiled | number | null>>>();
  const compiledFor = (args: ExecutionArgs): Compiled | null => {
    let byDocument = cache.get(args.schema);
    if (!byDocument) {
      byDocument = new WeakMap();
      cache.set(args.schema, byDocument);
    }
    let byName = byDocument.get(args.document);
    if (!byName) {
      byName = new Map();
      byDocument.set(args.document, byName);
    }
    const name = args.operationName ?? '';
    const entry = byName.get(name) ?? 0;
    if (typeof entry !== 'number') return entry;
    if (entry + 1 < compileOn) {
      byName.set(name, entry + 1);
      return null;
    }
    const compiled = compile(args);
    byName.set(name, compiled);
    return compiled;
  };

  return (args, fallback = executeWithGraphqlJs) => {
    // Path interning is per execution, found by its context: without an object for one, graphql-js runs it.
    const compiled = typeof args.contextValue === 'object' && args.contextValue !== null ? compiledFor(args) : null;
    if (!compiled) return fallback(args);
    // Variables graphql-js refuses are refused by graphql-js, in its words.
    const definitions = compiled.operation.variableDefinitions;
    if (definitions?.length && getVariableValues(args.schema, definitions, args.variableValues ?? {}, { maxErrors: 1 }).errors) {
      return fallback(args);
    }
    executions.set(args.contextValue as object, new Map());
    const result = compiled.query(args.rootValue, args.contextValue, args.variableValues) as PromiseOrValue<ExecutionResult>;
    return isPromise(result) ? result.then((r) => asGraphqlJs(r, compiled)) : asGraphqlJs(result, compiled);
  };
}

function compile(args: ExecutionArgs): Compiled | null {
  const result = compileQuery(args.schema, args.document, args.operationName ?? undefined);
  if (!isCompiledQuery(result)) return null;
  const operation = args.document.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION && (args.operationName == null || d.name?.value === args.operationName),
  );
  return operation ? { query: result.query, operation, document: args.document } : null;
}

/** The result as graphql-js builds it: `errors` first, each located as its `locatedError` does. */
function asGraphqlJs(result: ExecutionResult, compiled: Compiled): ExecutionResult {
  if (!result.errors?.length) return result;
  const { errors, data, ...rest } = result;
  return { errors: errors.map((e) => located(e, compiled)), data, ...rest };
}

const NULL_VIOLATION = /^Cannot return null for non-nullable field /;

function located(error: GraphQLError, compiled: Compiled): GraphQLError {
  if (Object.getPrototypeOf(error) === GraphQLError.prototype) return error; // graphql-js made it (variables)
  const original: unknown = error.originalError;
  // graphql-js passes on an error that already knows where it is.
  if (original instanceof GraphQLError && Array.isArray(original.path)) return original;
  const nodes = error.locations?.map((l) => nodeAt(compiled, l.line, l.column));
  // What graphql-js's locatedError keeps as the original: the thrown Error, an Error made of anything else
  // thrown, and for what the executor raises itself what graphql-js throws there: an Error for a null in a
  // non-null field, a GraphQLError otherwise (a scalar's serialize failing, a wrong runtime type).
  const cause =
    original !== undefined
      ? toError(original)
      : NULL_VIOLATION.test(error.message)
        ? new Error(error.message)
        : new GraphQLError(error.message);
  const fromOriginal = original instanceof GraphQLError ? original : undefined;
  return new GraphQLError(cause.message, {
    nodes: fromOriginal?.nodes ?? (nodes?.every((n) => n !== undefined) ? (nodes as ASTNode[]) : undefined),
    source: fromOriginal?.source,
    positions: fromOriginal?.positions,
    path: error.path,
    originalError: cause,
  });
}

function nodeAt(compiled: Compiled, line: number, column: number): ASTNode | undefined {
  if (!compiled.nodesAt) {
    const nodesAt = new Map<string, ASTNode>();
    const source = compiled.document.loc?.source;
    if (source) {
      visit(compiled.document, {
        enter(node) {
          if (!node.loc) return;
          const at = getLocation(source, node.loc.start);
          const key = `${at.line}:${at.column}`;
          // A field starts where its alias or name does: the field is the node graphql-js locates errors at.
          if (node.kind === Kind.FIELD || !nodesAt.has(key)) nodesAt.set(key, node);
        },
      });
    }
    compiled.nodesAt = nodesAt;
  }
  return compiled.nodesAt.get(`${line}:${column}`);
}
