import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { migrate } from '../src/db/migrate.js';
import { createTestDatabase } from './helpers/db.js';
import { cvcLike, dumpDatabase, leakLines, panLike } from './helpers/scan.js';
import { TEST_MASTER_KEYS } from './helpers/env.js';

// One database and one real server process for the run: tests talk to it over HTTP with the generated
// client, and each test creates its own merchant, so files run in parallel without truncating tables.
// The server's whole log is kept in a file that the hygiene test scans for card data.
export default async function setup(project: TestProject) {
  const given = process.env.VAULT_TEST_DATABASE_URL;
  const created = given ? undefined : await createTestDatabase();
  const databaseUrl = given ?? created!.url;
  await migrate(databaseUrl);

  const logDir = mkdtempSync(path.join(tmpdir(), 'vault-test-'));
  const serverLog = path.join(logDir, 'server.log');
  const server = await startServerProcess(databaseUrl, serverLog);
  project.provide('databaseUrl', databaseUrl);
  project.provide('graphqlUrl', server.url);
  project.provide('serverLog', serverLog);

  return async () => {
    await stopProcess(server.child);
    // After the whole run: the database as pg_dump writes it and every line any server of the run logged
    // may hold no card number and no CVC in the clear.
    const dump = await dumpDatabase(databaseUrl);
    const log = readFileSync(serverLog, 'utf8');
    const leaks = [...panLike(dump), ...panLike(log), ...cvcLike(dump), ...cvcLike(log)];
    await created?.drop();
    console.log(`card data hygiene: scanned ${dump.length} bytes of pg_dump and ${log.length} bytes of server logs: ${leaks.length} leak(s)`);
    if (leaks.length > 0) {
      // vitest only logs an error thrown here, so fail the run explicitly.
      console.error(`FAIL card data hygiene: ${leaks.length} card-number- or CVC-shaped value(s) in the database or ${serverLog}`);
      for (const line of [...leakLines(dump), ...leakLines(log)]) console.error(`  ${line}`);
      process.exitCode = 1;
    }
  };
}

export function serverEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    VAULT_MASTER_KEYS: TEST_MASTER_KEYS,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'debug',
    VAULT_DEMO_MERCHANT: 'false',
    VAULT_PURGE_INTERVAL_SECONDS: '0',
    // One process per server: tests count rate limits and watch one process (one test starts a cluster).
    VAULT_WORKERS: '1',
    // Every test calls from 127.0.0.1 and some send unknown keys on purpose; the throttle has its own test.
    VAULT_AUTH_FAILURE_LIMIT: '0',
    // Short enough for the forwarding tests' slow and oversized upstreams.
    VAULT_FORWARD_TIMEOUT_MS: '1500',
    VAULT_FORWARD_MAX_RESPONSE_BYTES: '65536',
    ...extra,
  };
}

/** Spawns `src/server.ts` as `npm start` does and resolves once it prints its GraphiQL URL. */
export async function startServerProcess(
  databaseUrl: string,
  logFile: string,
  extraEnv: Record<string, string> = {},
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: serverEnv(databaseUrl, extraEnv),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start; see ${logFile}`));
    }, 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /Graph(?:iQL|QL): (http\S+)/.exec(buffered); // GraphQL: when GraphiQL is off (production)
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}; see ${logFile}`));
    });
  });
  return { url, child };
}

/** Signals the process and waits for it to end; SIGKILL after `graceMs` if it has not. Its exit code. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<number | null> {
  // A process ended by a signal has no exit code, only a signal code.
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(force);
  }
}
