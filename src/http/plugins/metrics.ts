import cluster from 'node:cluster';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getOperationAST, GraphQLObjectType, Kind, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestContext } from '../context.js';
import type pg from 'pg';
import { VaultError } from '../../domain/shared/errors.js';

// Prometheus metrics (prom-client) at GET /metrics (on the public port outside production, or on a listener
// of its own, or behind a bearer token: see MetricsAccess and VAULT_METRICS_* in config.ts): requests and latency per GraphQL operation (its first
// root field, so cardinality is bounded by the schema), errors by code (GraphQL errors' extensions.code and
// the domain errors mutations return as data), the database pool, and Node's process metrics. With
// VAULT_WORKERS > 1 a worker asks the primary, which aggregates every worker's registry.

const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'vault_' });

const requests = new Counter({
  name: 'vault_graphql_requests_total',
  help: 'GraphQL operations executed, by root field and outcome (ok: no GraphQL error and no error result).',
  labelNames: ['operation', 'outcome'] as const,
  registers: [registry],
});
const duration = new Histogram({
  name: 'vault_graphql_request_duration_seconds',
  help: 'Execution time of GraphQL operations, by root field.',
  labelNames: ['operation'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});
const errors = new Counter({
  name: 'vault_errors_total',
  help: 'Errors answered, by code: GraphQL errors (UNAUTHENTICATED, RATE_LIMITED, …) and domain errors (NOT_FOUND, …).',
  labelNames: ['code'] as const,
  registers: [registry],
});
const restRequests = new Counter({
  name: 'vault_rest_requests_total',
  help: 'Requests to the REST dialects, by route (its operationId) and HTTP status.',
  labelNames: ['operation', 'status'] as const,
  registers: [registry],
});
const restDuration = new Histogram({
  name: 'vault_rest_request_duration_seconds',
  help: 'Time to answer requests to the REST dialects, by route.',
  labelNames: ['operation'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

const fastPath = new Counter({
  name: 'vault_graphql_fast_path_total',
  help: 'GraphQL requests the fast path took (src/http/fastPath.ts): served there, or handed over to yoga before anything executed.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/** Counts one request the fast path took. */
export function recordFastPath(outcome: 'served' | 'handed_over'): void {
  fastPath.inc({ outcome });
}

const readBatches = new Histogram({
  name: 'vault_db_read_batch_size',
  help: 'Masked reads per batched statement (1: a read that went alone; see VAULT_DB_READ_BATCHES).',
  buckets: [1, 2, 4, 8, 16, 32, 64],
  registers: [registry],
});

/** Counts one batched read statement and the reads it carried (src/domain/paymentMethods/store.ts). */
export function recordReadBatch(reads: number): void {
  readBatches.observe(reads);
}

/** Counts one answered REST request (src/http/routes/rest/router.ts); labels bounded by the route table. */
export function recordRestRequest(operation: string, status: number, seconds: number): void {
  restRequests.inc({ operation, status: String(status) });
  restDuration.observe({ operation }, seconds);
}

new Gauge({
  name: 'vault_db_pool_connections',
  help: 'Database pool connections by state (total, idle, waiting requests).',
  labelNames: ['state'] as const,
  registers: [registry],
  collect() {
    let total = 0;
    let idle = 0;
    let waiting = 0;
    for (const pool of observedPools) {
      total += pool.totalCount;
      idle += pool.idleCount;
      waiting += pool.waitingCount;
    }
    this.set({ state: 'total' }, total);
    this.set({ state: 'idle' }, idle);
    this.set({ state: 'waiting' }, waiting);
  },
});

/**
 * Pools the gauge above reports, registered by the apps that serve /metrics. prom-client's registry is
 * process-wide (default metrics, cluster aggregation), so what it observes is too; an app removes its pool
 * when it stops.
 */
const observedPools = new Set<Pick<pg.Pool, 'totalCount' | 'idleCount' | 'waitingCount'>>();

export function observePool(pool: pg.Pool): () => void {
  observedPools.add(pool);
  return () => observedPools.delete(pool);
}

const instrumented = new WeakSet<GraphQLSchema>();

function isDomainError(value: unknown): value is Pick<VaultError, 'code' | 'message'> {
  return (
    value instanceof VaultError ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as VaultError).code === 'string' &&
      typeof (value as VaultError).message === 'string')
  );
}

/** Counts domain errors returned as data: wraps every root field resolver of the built schema (once). */
export function instrumentSchema(schema: GraphQLSchema): GraphQLSchema {
  if (instrumented.has(schema)) return schema;
  instrumented.add(schema);
  for (const type of [schema.getQueryType(), schema.getMutationType()]) {
    if (!(type instanceof GraphQLObjectType)) continue;
    for (const field of Object.values(type.getFields())) {
      const resolve = field.resolve;
      if (!resolve) continue;
      field.resolve = async (...args) => {
        const result: unknown = await resolve(...args);
        // The errors plugin hands back a copy of the domain error that is no longer an Error (graphql-js
        // would treat an Error as thrown): recognise it by its shape.
        if (isDomainError(result)) errors.inc({ code: result.code });
        return result;
      };
    }
  }
  return schema;
}

function operationOf(document: Parameters<typeof getOperationAST>[0], operationName: string | null | undefined): string {
  const op = getOperationAST(document, operationName);
  const first = op?.selectionSet.selections.find((s) => s.kind === Kind.FIELD);
  return first?.kind === Kind.FIELD ? first.name.value : 'unknown';
}

/** Who may read /metrics: on the public port or not, and with which bearer token if any. */
export interface MetricsAccess {
  /** Served on the public port (GraphQL's); otherwise only on a listener of its own (metricsHandler). */
  public: boolean;
  token?: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function authorized(access: MetricsAccess, authorization: string | null | undefined): boolean {
  if (!access.token) return true;
  const given = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1] ?? '';
  // Digests first: equal lengths for timingSafeEqual, and no early exit that times the token's length.
  return timingSafeEqual(digest(given), digest(access.token));
}

/** The request handler of the metrics listener: GET /metrics, nothing else. */
export function metricsHandler(access: MetricsAccess): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') return void res.writeHead(404).end();
    if (!authorized(access, req.headers.authorization)) return void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
    metricsText().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(500).end(),
    );
  };
}

/**
 * Counts the errors of a result without data (a request refused before or at the start of execution:
 * authentication, rate limit, limits, variables), with their final codes. Called as results are processed
 * (useMetrics, and the fast path).
 */
export function countRequestErrors(result: ExecutionResult): void {
  if (result.data != null || !result.errors) return;
  for (const e of result.errors) errors.inc({ code: String(e.extensions?.code ?? 'GRAPHQL_ERROR') });
}

export function useMetrics(access: MetricsAccess = { public: true }): Plugin<RequestContext> {
  return {
    onExecute({ args }) {
      const started = performance.now();
      const operation = operationOf(args.document, args.operationName);
      return {
        onExecuteDone({ result }) {
          const r = result as { errors?: readonly { extensions?: { code?: unknown } }[]; data?: Record<string, unknown> | null };
          // Field errors; a result without data (variables refused) is counted as a request error, below.
          if (r.data != null) for (const e of r.errors ?? []) errors.inc({ code: String(e.extensions?.code ?? 'GRAPHQL_ERROR') });
          const errorResult = Object.values(r.data ?? {}).some(
            (v) => typeof v === 'object' && v !== null && String((v as { __typename?: unknown }).__typename ?? '').endsWith('Error'),
          );
          requests.inc({ operation, outcome: r.errors?.length || errorResult ? 'error' : 'ok' });
          duration.observe({ operation }, (performance.now() - started) / 1000);
        },
      };
    },
    onResultProcess({ result }) {
      if (!Array.isArray(result)) countRequestErrors(result as ExecutionResult);
    },
    // Synchronous unless it is /metrics: an async hook makes every request's pipeline wait a turn for it.
    onRequest({ url, request, endResponse, fetchAPI }) {
      if (!access.public || url.pathname !== '/metrics' || request.method !== 'GET') return;
      if (!authorized(access, request.headers.get('authorization'))) {
        return endResponse(new fetchAPI.Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer' } }));
      }
      return metricsText().then((body) => endResponse(new fetchAPI.Response(body, { headers: { 'content-type': registry.contentType } })));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Cluster: the primary aggregates the workers' registries on request.

const REQUEST = 'vault:metrics-request';
const REPLY = 'vault:metrics-reply';
let nextId = 0;
const pending = new Map<number, (text: string) => void>();

async function metricsText(): Promise<string> {
  if (!cluster.isWorker || !process.send) return registry.metrics();
  const id = nextId++;
  return new Promise<string>((resolve) => {
    pending.set(id, resolve);
    process.send!({ type: REQUEST, id });
    setTimeout(() => {
      if (pending.delete(id)) void registry.metrics().then(resolve);
    }, 2000).unref();
  });
}

/** In a worker: answers the primary's aggregation and receives its replies. */
export function serveClusterMetrics(): void {
  if (!cluster.isWorker) return;
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's worker-side listener that answers the primary.
  new AggregatorRegistry();
  process.on('message', (message: { type?: string; id?: number; text?: string }) => {
    if (message?.type === REPLY && typeof message.id === 'number') {
      pending.get(message.id)?.(message.text ?? '');
      pending.delete(message.id);
    }
  });
}

/** In the primary: aggregates every worker's metrics for the worker that asked. */
export function aggregateClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: { type?: string; id?: number }) => {
    if (message?.type !== REQUEST) return;
    aggregator
      .clusterMetrics()
      .then((text) => worker.send({ type: REPLY, id: message.id, text }))
      .catch(() => worker.send({ type: REPLY, id: message.id, text: '' }));
  });
}
