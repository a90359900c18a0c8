// Child processes for the tests and the benchmark: one way to start a server, wait until it says it is
// ready, and stop it. Nothing here imports vitest, so bench/run.ts imports this module too.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { TEST_MASTER_KEYS } from './env.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The vault's entry point: run through tsx by the tests, compiled (as `npm start` runs it) by the bench. */
export const VAULT_ENTRY = { source: 'src/main.ts', compiled: 'dist/src/main.js' } as const;

/** What the vault prints once it listens (`GraphQL:` when GraphiQL is off, as in production). */
export const VAULT_READY = /Graph(?:iQL|QL): (http\S+)/;

export interface StartOptions {
  /** Node arguments: a `.ts` script runs through tsx; a compiled one with `npm start`'s heap limit. */
  args: string[];
  /** The child's whole environment. */
  env: NodeJS.ProcessEnv;
  /** Matched against the child's standard output; the first group is the `ready` value. */
  ready: RegExp;
  /**
   * Where the child's output goes:
   *   `append` (default): piped through this process and appended to `file`, which other processes of the
   *     run may share; readiness is read from this child's own output.
   *   `direct`: `file` (truncated) is the child's standard output itself, read by nobody while it runs
   *     (the bench: a load generator's event loop must not also read a server's request log); readiness is
   *     polled from the file.
   */
  log?: { file: string; mode?: 'append' | 'direct' };
  /** Keep everything the child writes in memory for `output()` (append mode only). */
  keepOutput?: boolean;
  cwd?: string;
  timeoutMs?: number;
  /** What error messages call it (default: its arguments). */
  name?: string;
}

export interface StartedProcess {
  child: ChildProcess;
  /** The first group of `ready`. */
  ready: string;
  /** Its standard output and error so far (with `keepOutput`; otherwise only what was read before ready). */
  output(): string;
}

/** Spawns node with `args` and resolves once its output matches `ready`; rejects if it exits or times out. */
export async function startProcess(opts: StartOptions): Promise<StartedProcess> {
  const loader = opts.args.some((a) => a.endsWith('.ts')) ? ['--import', 'tsx'] : ['--max-old-space-size=128', '--enable-source-maps'];
  const direct = opts.log?.mode === 'direct';
  const stdoutFd = direct ? openSync(opts.log!.file, 'w') : undefined;
  const child = spawn(process.execPath, [...loader, ...opts.args], {
    cwd: opts.cwd ?? ROOT,
    env: opts.env,
    stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'],
  });
  if (stdoutFd !== undefined) closeSync(stdoutFd);

  let out = '';
  let readyYet = false;
  const keep = (chunk: Buffer) => {
    if (opts.keepOutput || (!readyYet && out.length < 1_000_000)) out += chunk.toString();
  };
  if (!direct) {
    if (opts.log) {
      const file = createWriteStream(opts.log.file, { flags: 'a' });
      child.stdout!.pipe(file);
      child.stderr!.pipe(file);
    }
    child.stdout!.on('data', keep);
  }
  child.stderr!.on('data', keep);

  const name = opts.name ?? opts.args.join(' ');
  const tail = () => `${opts.log ? `; see ${opts.log.file}` : ''}${out ? `: ${out.slice(-2000)}` : ''}`;
  const ready = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = opts.ready.exec(direct ? readFileSync(opts.log!.file, 'utf8') : out);
      if (m) {
        done();
        resolve(m[1] ?? m[0]);
      }
    };
    const poll = setInterval(check, 50);
    const timer = setTimeout(() => {
      done();
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start${tail()}`));
    }, opts.timeoutMs ?? 60_000);
    const exited = (code: number | null) => {
      done();
      reject(new Error(`${name} exited with ${code}${tail()}`));
    };
    const done = () => {
      clearInterval(poll);
      clearTimeout(timer);
      child.off('exit', exited);
    };
    child.once('exit', exited);
  });
  readyYet = true;
  return { child, ready, output: () => out };
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

export interface VaultServerOptions extends Omit<StartOptions, 'args' | 'ready'> {
  /** Run `dist/` as `npm start` does (build first) instead of the sources through tsx. */
  compiled?: boolean;
  /** Node flags before the entry point (e.g. `--cpu-prof`). */
  nodeFlags?: string[];
}

/** Starts the vault server and resolves with its GraphQL URL once it listens. */
export async function startVaultServer(opts: VaultServerOptions): Promise<StartedProcess & { url: string }> {
  const { compiled, nodeFlags = [], ...rest } = opts;
  const started = await startProcess({
    name: 'server',
    ...rest,
    args: [...nodeFlags, compiled ? VAULT_ENTRY.compiled : VAULT_ENTRY.source],
    ready: VAULT_READY,
  });
  return { ...started, url: started.ready };
}

/** The environment of a test server: the shared test database and master key, one process, debug logs. */
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
    // Webhooks: looked for often, answered quickly, retried after a fraction of a second (webhooks.test.ts).
    VAULT_WEBHOOK_POLL_MS: '100',
    VAULT_WEBHOOK_TIMEOUT_MS: '1000',
    VAULT_WEBHOOK_RETRY_BASE_MS: '300',
    VAULT_WEBHOOK_RETRY_MAX_MS: '1000',
    ...extra,
  };
}

/** A test server (`serverEnv` plus `extraEnv`) appending its output to `logFile`: its URL and process. */
export async function startServerProcess(
  databaseUrl: string,
  logFile: string,
  extraEnv: Record<string, string> = {},
): Promise<{ url: string; child: ChildProcess }> {
  const { url, child } = await startVaultServer({ env: serverEnv(databaseUrl, extraEnv), log: { file: logFile } });
  return { url, child };
}
