import { getOperationAST, GraphQLError, Kind, print, type ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { RequestContext } from './context.js';
import { abandon, begin, complete, requestFingerprint, type Claim } from './domain/idempotency.js';

const KEY_FORMAT = /^[\x20-\x7e]{1,255}$/;
const NOT_REPLAYED: ReadonlySet<string> = new Set(['revealCard']);

/**
 * `Idempotency-Key` on mutations (the rules are in domain/idempotency.ts). Hooks execution, so the api key
 * has already been resolved: an unauthenticated request never reaches the store. The outcome is recorded
 * from `onExecutionResult`, after error masking and even when execution threw, so what is stored and
 * replayed is exactly what the first caller received.
 */
export function useIdempotency(log: Logger): Plugin<RequestContext> {
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
      // A reveal changes nothing and its answer is a full card: never kept for replay.
      if (operation.selectionSet.selections.some((s) => s.kind === Kind.FIELD && NOT_REPLAYED.has(s.name.value))) return;
      if (!KEY_FORMAT.test(key)) {
        setResultAndStopExecution(failure('Idempotency-Key must be 1-255 printable ASCII characters', 'BAD_USER_INPUT', 400));
        return;
      }
      return (async () => {
        const fingerprint = requestFingerprint(principal, {
          operationName: args.operationName ?? null,
          document: print(args.document),
          variables: args.variableValues,
        });
        const outcome = await begin(principal, key, fingerprint);
        switch (outcome.kind) {
          case 'execute':
            claims.set(args.contextValue, outcome.claim);
            return;
          case 'replay':
            replayed.add(request);
            setResultAndStopExecution(revive(outcome.response));
            return;
          case 'conflict':
            setResultAndStopExecution(
              failure('Idempotency-Key was already used with a different operation or variables', 'IDEMPOTENCY_CONFLICT', 409),
            );
            return;
          case 'busy':
            setResultAndStopExecution(
              failure('A request with this Idempotency-Key is still in progress; retry later', 'IDEMPOTENCY_KEY_IN_USE', 409, { 'retry-after': '1' }),
            );
            return;
        }
      })();
    },
    onExecutionResult({ result, context }) {
      const claim = claims.get(context);
      if (!claim) return;
      claims.delete(context);
      return record(claim, result);
    },
    onResponse({ request, response }) {
      if (replayed.has(request)) response.headers.set('idempotent-replayed', 'true');
    },
  };

  async function record(claim: Claim, result: ExecutionResult | AsyncIterable<unknown> | null | undefined): Promise<void> {
    try {
      // A fault is not an answer worth replaying for 24 hours: release the key so a retry acts.
      if (!result || isAsyncIterable(result) || result.errors?.some((e) => e.extensions?.code === 'INTERNAL_SERVER_ERROR')) {
        await abandon(claim);
      } else if (!(await complete(claim, result))) {
        log.warn({ idempotencyKey: claim.id }, 'idempotency key was taken over before its response was stored');
      }
    } catch (err) {
      // The mutation did act: its caller still gets the real answer; the key stays IN_PROGRESS until stale.
      log.error({ err, idempotencyKey: claim.id }, 'could not record the idempotency key outcome');
    }
  }
}

function failure(message: string, code: string, status: number, headers?: Record<string, string>): ExecutionResult {
  return { errors: [new GraphQLError(message, { extensions: { code, http: { status, ...(headers && { headers }) } } })] };
}

type StoredResult = Omit<ExecutionResult, 'errors'> & {
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
};

/** Stored errors are JSON; yoga derives the HTTP status from GraphQLError instances, so rebuild them. */
function revive(response: unknown): ExecutionResult {
  const { errors, ...rest } = response as StoredResult;
  return errors ? { ...rest, errors: errors.map((e) => new GraphQLError(e.message, { path: e.path, extensions: e.extensions })) } : rest;
}
