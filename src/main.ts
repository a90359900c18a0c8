// The entry point: configuration, logger, then one server process, or a node:cluster primary that forks
// workers (each builds its own app: src/app/app.ts) and supervises them.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { createApp } from './app/app.js';
import { parseConfig, type Config } from './app/config.js';
import { createLogger } from './app/logger.js';
import { MasterKeyMismatch } from './crypto/keyring.js';
import { countMerchants, createMerchant } from './domain/merchants/merchants.js';
import { aggregateClusterMetrics, serveClusterMetrics } from './http/plugins/metrics.js';
import { displayUrl, startServer } from './http/server.js';

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
    log.info(
      { url: `${running.url}/graphql`, metrics: running.metricsUrl, executor: config.VAULT_GRAPHQL_EXECUTOR, worker: cluster.worker?.id },
      'worker listening',
    );
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
  log.info({ url: `${running.url}/graphql`, metrics: running.metricsUrl, executor: config.VAULT_GRAPHQL_EXECUTOR }, 'vault listening');
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
