import { createServer, type IncomingMessage, STATUS_CODES, ServerResponse, type Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../app/config.js';
import { metricsHandler, type MetricsAccess } from './plugins/metrics.js';
import { refreshStatistics } from '../db/statistics.js';
import { sweep } from '../domain/sweep.js';
import { runAccountUpdater } from '../domain/paymentMethods/accountUpdater.js';
import { pendingMigrations } from '../db/migrate.js';
import { lingerUnreadBody } from './plugins/limits.js';
import { createApp, type App } from '../app/app.js';
import { trustedDocumentCount } from '../domain/trustedDocuments/trustedDocuments.js';
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
    auditSealer: true,
    webhookDispatcher: true,
  });
  // `require` with nothing registered refuses every GraphQL request: said once at start, not per request.
  if (config.VAULT_TRUSTED_DOCUMENTS === 'require' && (await trustedDocumentCount(app)) === 0) {
    log.warn(
      'VAULT_TRUSTED_DOCUMENTS=require but no document is registered: every GraphQL request is refused until `vault documents push`',
    );
  }
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
  const fastPath = config.VAULT_GRAPHQL_FAST_PATH;
  let draining = false;
  // Slow clients (slowloris) are cut off: headers and the whole request must arrive in time (408), checked
  // every second rather than Node's default 30 s.
  const timeouts = {
    requestTimeout: config.VAULT_REQUEST_TIMEOUT_MS,
    headersTimeout: Math.min(config.VAULT_HEADERS_TIMEOUT_MS, config.VAULT_REQUEST_TIMEOUT_MS),
    connectionsCheckingInterval: Math.min(1_000, config.VAULT_HEADERS_TIMEOUT_MS),
  };
  const server = createServer({ ...timeouts, ServerResponse: PhrasedResponse }, (req, res) => {
    // While draining, answer what arrives on open connections but close them afterwards.
    if (draining) res.shouldKeepAlive = false;
    lingerUnreadBody(req, res);
    if (fastPath && yoga.fastPath(req, res)) return;
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
  const updater = config.VAULT_UPDATER_INTERVAL_SECONDS > 0 ? startAccountUpdater(app, config.VAULT_UPDATER_INTERVAL_SECONDS) : undefined;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (sweep) clearInterval(sweep);
      if (updater) clearInterval(updater);
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
  // One round at a time: a round slower than the period (a large purge) is not started again under itself.
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweep(app)
      .then(
        (r) => Object.values(r).some((n) => n > 0) && log.info(r, 'sweep'),
        (err: unknown) => log.error({ err }, 'sweep failed'),
      )
      // Then statistics of tables that grew since they were gathered (src/db/statistics.ts).
      .then(() => refreshStatistics(app.db.pool))
      .then((tables) => tables.length > 0 && log.info({ tables }, 'statistics refreshed'))
      .catch((err: unknown) => log.warn({ err }, 'statistics refresh failed'))
      .finally(() => {
        running = false;
      });
  }, seconds * 1000);
  timer.unref();
  return timer;
}

/** The URL printed for people: the listen address as configured. */
export function displayUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The account updater every `seconds` (one run at a time per process; runs in other processes skip the cards this one holds). */
function startAccountUpdater(app: App, seconds: number): NodeJS.Timeout {
  const { log } = app;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runAccountUpdater(app)
      .then((r) => r.checked > 0 && log.info(r, 'account updater'))
      .catch((err: unknown) => log.error({ err }, 'account updater failed'))
      .finally(() => {
        running = false;
      });
  }, seconds * 1000);
  timer.unref();
  return timer;
}

/**
 * A response whose status line always has its reason phrase. Answers made as Fetch API Responses (yoga's
 * routes, REST) carry an empty `statusText`, which @whatwg-node/server passes to `writeHead` as the reason:
 * node:http then wrote `HTTP/1.1 404 ` with no phrase (legal, but what `curl -i`, proxy logs and older clients
 * show). An empty reason becomes the standard one; any other is kept.
 */
class PhrasedResponse<R extends IncomingMessage = IncomingMessage> extends ServerResponse<R> {
  override writeHead(statusCode: number, ...rest: unknown[]): this {
    if (rest[0] === '') rest[0] = STATUS_CODES[statusCode] ?? 'Unknown';
    return (ServerResponse.prototype.writeHead as (this: ServerResponse, code: number, ...args: unknown[]) => this).call(
      this,
      statusCode,
      ...rest,
    );
  }
}
