// A private PgBouncer (Debian's `pgbouncer` package) on a free port of 127.0.0.1, in front of the test
// PostgreSQL server, with an ini file of its own: for tests that run the vault through a pooler.
// PgBouncer refuses to run as root: as root (CI), it runs as the `postgres` OS user, like pgCluster.ts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './pgCluster.js';

export const PGBOUNCER_BIN = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';

export interface PgBouncerOptions {
  mode: 'session' | 'transaction';
  /** Where it connects (default 127.0.0.1:5432). */
  host?: string;
  port?: number;
  /** Server connections per database and user: fewer than the vault's pool, so clients share them. */
  poolSize?: number;
  /** Extra `[pgbouncer]` settings. */
  settings?: Record<string, string | number>;
}

export interface PgBouncer {
  port: number;
  /** `postgresql://postgres@127.0.0.1:<port>/<database>` */
  url(database: string): string;
  log(): string;
  stop(): Promise<void>;
}

/** Whether the pgbouncer binary is installed (CI installs it: `apt-get install -y pgbouncer`). */
export const pgbouncerInstalled = () => existsSync(PGBOUNCER_BIN);

export async function startPgBouncer(opts: PgBouncerOptions): Promise<PgBouncer> {
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(tmpdir(), 'vault-pgbouncer-'));
  const port = await freePort();
  const logFile = path.join(dir, 'pgbouncer.log');
  const settings: Record<string, string | number> = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: '',
    auth_type: 'trust',
    auth_file: path.join(dir, 'users.txt'),
    pool_mode: opts.mode,
    default_pool_size: opts.poolSize ?? 4,
    max_client_conn: 500,
    logfile: logFile,
    pidfile: path.join(dir, 'pgbouncer.pid'),
    ...opts.settings,
  };
  writeFileSync(path.join(dir, 'users.txt'), '"postgres" ""\n"root" ""\n');
  writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${opts.host ?? '127.0.0.1'} port=${opts.port ?? 5432}`,
      '[pgbouncer]',
      ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n'),
  );
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const f of ['', 'users.txt', 'pgbouncer.ini']) chownSync(path.join(dir, f), uid, gid);
  }
  const args = [PGBOUNCER_BIN, path.join(dir, 'pgbouncer.ini')];
  const child: ChildProcess = asRoot
    ? spawn('runuser', ['-u', 'postgres', '--', ...args], { stdio: 'ignore' })
    : spawn(args[0]!, args.slice(1), { stdio: 'ignore' });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const pidFile = path.join(dir, 'pgbouncer.pid');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // SIGTERM: immediate shutdown (SIGINT would wait for every client to leave). Sent to pgbouncer itself,
      // by the pid it wrote: runuser does not pass signals on.
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined;
      if (pid) process.kill(pid, 'SIGTERM');
      else child.kill('SIGKILL');
      const force = setTimeout(() => {
        if (pid) process.kill(pid, 'SIGKILL');
        child.kill('SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(force);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Listening yet?
  const deadline = Date.now() + 20_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const out = log();
      await stop();
      throw new Error(`pgbouncer did not start: ${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`, log, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
