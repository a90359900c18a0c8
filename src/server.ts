import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { Server as NetServer } from 'node:net';
import type { Logger } from 'pino';
import { parseConfig, type Config } from './app/config.js';
import { aggregateClusterMetrics, metricsHandler, serveClusterMetrics, type MetricsAccess } from './metrics.js';
import { countMerchants, createMerchant } from './domain/merchants.js';
import { sweep } from './domain/sweep.js';
import { MasterKeyMismatch } from './db/keyring.js';
import { pendingMigrations } from './db/migrate.js';
import { lingerUnreadBody } from './limits.js';
import { createLogger } from './app/logger.js';
import { createApp, type App } from './app/app.js';
import { createVaultYoga } from './yoga.js';

const SHUTDOWN_GRACE_MS = 1_000;

export interface RunningServer {
  url: string;
  /** The metrics listener's /metrics URL, when VAULT_METRICS_PORT is set. */
  metricsUrl?: string;
  server: Server;
  app: App;
  close(): Promise<void>;
}

/** Starts the vault: the app (database, keys, migrations, caches, limiters), HTTP server, periodic purge. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const app = await createApp(config, log, {
    migrate: true,
    serveEmbedded: true,
    apiKeyCache: true,
    verifyMasterKeys: true,
    rateLimits: true,
    metrics: true,
  });
  // /metrics tells anyone who can read it the vault's traffic and errors: in production it is off the public
  // port unless a token guards it; a metrics listener (loopback by default) takes it off the public port anywhere.
  const metricsAccess: MetricsAccess = {
    public: config.VAULT_METRICS_TOKEN !== undefined || (config.VAULT_METRICS_PORT === undefined && config.NODE_ENV !== 'production'),
    token: config.VAULT_METRICS_TOKEN,
  };
  const yoga = createVaultYoga({
    app,
    introspection: config.VAULT_INTROSPECTION ?? config.NODE_ENV !== 'production',
    graphiql: config.VAULT_GRAPHIQL ?? config.NODE_ENV !== 'production',
    metrics: metricsAccess,
    ready: async () => {
      try {
        return (await pendingMigrations(app.databaseUrl)).length === 0;
      } catch {
        return false;
      }
    },
  });
  let draining = false;
  // Slow clients (slowloris) are cut off: headers and the whole request must arrive in time (408), checked
  // every second rather than Node's default 30 s.
  const timeouts = {
    requestTimeout: config.VAULT_REQUEST_TIMEOUT_MS,
    headersTimeout: Math.min(config.VAULT_HEADERS_TIMEOUT_MS, config.VAULT_REQUEST_TIMEOUT_MS),
    connectionsCheckingInterval: Math.min(1_000, config.VAULT_HEADERS_TIMEOUT_MS),
  };
  const server = createServer(timeouts, (req, res) => {
    // While draining, answer what arrives on open connections but close them afterwards.
    if (draining) res.shouldKeepAlive = false;
    lingerUnreadBody(req, res);
    void yoga(req, res);
  });
  // Idle keep-alive sockets must not hold shutdown open; in-flight requests still finish.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const url = displayUrl(config.HOST, port);
  app.urls.listening(config.HOST, port);
  if (!config.VAULT_PUBLIC_URL && config.NODE_ENV === 'production') {
    log.warn({ url }, 'VAULT_PUBLIC_URL is not set: links the vault hands out (3-D Secure challenges) use its listen address');
  }

  let metricsServer: Server | undefined;
  let metricsUrl: string | undefined;
  if (config.VAULT_METRICS_PORT !== undefined) {
    const listener = createServer(timeouts, metricsHandler(metricsAccess));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(config.VAULT_METRICS_PORT, config.VAULT_METRICS_HOST, () => resolve());
    });
    metricsServer = listener;
    const bound = listener.address();
    metricsUrl = `${displayUrl(config.VAULT_METRICS_HOST, typeof bound === 'object' && bound ? bound.port : config.VAULT_METRICS_PORT)}/metrics`;
  }

  const sweep = config.VAULT_PURGE_INTERVAL_SECONDS > 0 ? startPurgeSweep(app, config.VAULT_PURGE_INTERVAL_SECONDS) : undefined;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (sweep) clearInterval(sweep);
      draining = true;
      metricsServer?.close();
      metricsServer?.closeAllConnections();
      await new Promise<void>((resolve) => {
        // Stop accepting, but not through http.Server#close: that also drops every connection without an
        // active request at once, including ones accepted a moment ago whose request is still being read.
        // Those get a grace period; idle keep-alive sockets are closed after it, stragglers at the timeout.
        NetServer.prototype.close.call(server, () => resolve());
        const grace = setTimeout(() => server.closeIdleConnections(), SHUTDOWN_GRACE_MS);
        const force = setTimeout(() => server.closeAllConnections(), config.VAULT_SHUTDOWN_TIMEOUT_MS);
        grace.unref();
        force.unref();
      });
      await app.stop();
    })());

  return { url, metricsUrl, server, app, close };
}

function startPurgeSweep(app: App, seconds: number): NodeJS.Timeout {
  const { log } = app;
  const timer = setInterval(() => {
    sweep(app)
      .then((r) => Object.values(r).some((n) => n > 0) && log.info(r, 'sweep'))
      .catch((err: unknown) => log.error({ err }, 'sweep failed'));
  }, seconds * 1000);
  timer.unref();
  return timer;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = parseConfig();
  } catch (err) {
    console.error((err as Error).message);
    process.exit(78);
  }
  const log = createLogger(config.LOG_LEVEL);
  const workers = workerCount(config);
  if (cluster.isPrimary && workers > 1) {
    await runPrimary(config, log, workers);
    return;
  }
  if (cluster.isWorker) {
    serveClusterMetrics();
    const running = await startServer(config, log);
    log.info({ url: `${running.url}/graphql`, metrics: running.metricsUrl, worker: cluster.worker?.id }, 'worker listening');
    const stop = () =>
      void running.close().then(
        () => log.flush(() => process.exit(0)),
        () => process.exit(1),
      );
    process.once('SIGTERM', stop);
    process.once('SIGINT', () => undefined); // the primary decides; Ctrl-C reaches the whole group
    return;
  }
  const running = await startServer(config, log);
  const demo = config.VAULT_DEMO_MERCHANT ?? (running.app.embedded && config.NODE_ENV !== 'production');
  if (demo && (await countMerchants(running.app)) === 0) {
    const merchant = await createMerchant(running.app, { name: 'Demo merchant' });
    // Shown once: keys are stored only as hashes.
    process.stdout.write(
      `\nDemo merchant created (keys are shown only this once):\n` +
        `  merchantId      ${merchant.merchantId}\n` +
        `  secret key      ${merchant.secretKey}\n` +
        `  publishable key ${merchant.publishableKey}\n\n`,
    );
  }
  log.info({ url: `${running.url}/graphql`, metrics: running.metricsUrl }, 'vault listening');
  process.stdout.write(endpointLines(config, running.url, running.metricsUrl));

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    running.close().then(
      () => log.flush(() => process.exit(0)),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** What start-up prints: where GraphQL (and GraphiQL, when on) and the metrics listener are. */
function endpointLines(config: Config, url: string, metricsUrl?: string): string {
  const graphiql = config.VAULT_GRAPHIQL ?? config.NODE_ENV !== 'production';
  return `${graphiql ? 'GraphiQL' : 'GraphQL'}: ${url}/graphql\n${metricsUrl ? `Metrics: ${metricsUrl}\n` : ''}`;
}

/** The URL printed for people: the listen address as configured. */
function displayUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** One worker per core with a database server; the embedded database lives in one process, so one. */
function workerCount(config: Config): number {
  if (config.VAULT_WORKERS !== undefined) return config.DATABASE_URL ? config.VAULT_WORKERS : 1;
  return config.DATABASE_URL ? availableParallelism() : 1;
}

/**
 * The cluster's primary: applies migrations once, forks the workers (they share the port; the kernel
 * balances connections), replaces a worker that dies, aggregates /metrics, and on SIGTERM/SIGINT stops the
 * workers gracefully (each drains its requests) before exiting.
 */
async function runPrimary(config: Config, log: Logger, workers: number): Promise<void> {
  // Migrations once, here, before any worker starts; the workers' apps find nothing to apply.
  const app = await createApp(config, log, { migrate: true, serveEmbedded: false, verifyMasterKeys: true });
  await app.stop();
  aggregateClusterMetrics();
  let stopping = false;
  const fork = () => cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log.error({ worker: worker.id, code, signal }, 'worker died; starting another');
    fork();
  });
  const listening = new Promise<number>((resolve) => {
    let count = 0;
    cluster.on('listening', (_worker, address) => {
      if (++count === workers) resolve(address.port);
    });
  });
  for (let i = 0; i < workers; i++) fork();
  const port = await listening;
  const url = displayUrl(config.HOST, port);
  log.info({ url: `${url}/graphql`, workers }, 'vault listening');
  process.stdout.write(endpointLines(config, url));

  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers }, 'shutting down: workers finish their in-flight requests');
    const all = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    let left = all.length;
    if (left === 0) process.exit(0);
    for (const w of all) {
      w.once('exit', () => {
        if (--left === 0) process.exit(0);
      });
      w.process.kill('SIGTERM');
    }
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    // EX_CONFIG, as for an invalid configuration: a master key missing or wrong is one.
    process.exit(err instanceof MasterKeyMismatch ? 78 : 1);
  });
}
