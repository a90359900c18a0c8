// A private, throwaway PostgreSQL cluster (its own data directory, port and postmaster) for tests that stop,
// crash or restart the database: doing that to the shared server on 127.0.0.1:5432 would break every other
// test file running in parallel.
//
// initdb and the postmaster refuse to run as root. Run as root (CI), the cluster belongs to the `postgres` OS
// user: its directory is chowned to it and every binary runs through `runuser -u postgres --`. Run as anyone
// else, the binaries run directly as that user. PG_BIN overrides where the binaries are.
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** The OS user that owns the cluster when the tests run as root. */
const CLUSTER_OS_USER = 'postgres';

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface PgCluster {
  port: number;
  /** The temporary directory holding the data directory, the Unix socket and the server log. */
  dir: string;
  /** `postgresql://postgres@127.0.0.1:<port>/<database>` */
  url(database?: string): string;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the postmaster. `immediate` is a crash: no checkpoint, WAL recovery on the next start. */
  stop(mode?: StopMode): Promise<void>;
  /** Starts it again on the same port and data directory (waits until it accepts connections). */
  start(): Promise<void>;
  /** stop + start. */
  restart(mode?: StopMode): Promise<void>;
  /** Stops it if it runs and removes the whole directory. Safe to call twice. */
  drop(): Promise<void>;
  /** The server log (for failure messages). */
  log(): string;
}

/** initdb in a fresh temporary directory and start the cluster on a free port of 127.0.0.1. */
export async function startPgCluster(): Promise<PgCluster> {
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(tmpdir(), 'vault-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', CLUSTER_OS_USER]).toString().trim());
    const gid = Number(execFileSync('id', ['-g', CLUSTER_OS_USER]).toString().trim());
    chownSync(dir, uid, gid);
  }
  // As root, run as the cluster's owner; otherwise as ourselves.
  const pgRun = (bin: string, args: string[]) => {
    const exe = path.join(PG_BIN, bin);
    return asRoot ? run('runuser', ['-u', CLUSTER_OS_USER, '--', exe, ...args]) : run(exe, args);
  };

  const port = await freePort();
  let dropped = false;
  // -k: the Unix socket lives in our directory, not in /var/run/postgresql next to the shared server's.
  // fsync stays on: the restart scenarios check that what was acknowledged survives a crash.
  const serverOptions = `-p ${port} -h 127.0.0.1 -k ${dir} -c max_connections=100`;

  const start = async () => {
    await pgRun('pg_ctl', ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile, '-o', serverOptions]);
  };
  const stop = async (mode: StopMode = 'fast') => {
    await pgRun('pg_ctl', ['stop', '-w', '-t', '60', '-D', dataDir, '-m', mode]);
  };
  const url = (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`;

  const cluster: PgCluster = {
    port,
    dir,
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
    start,
    async restart(mode = 'fast') {
      await stop(mode);
      await start();
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      // Even when we believe it is stopped: a failed stop/start may have left a postmaster behind.
      await stop('immediate').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };

  try {
    // trust on 127.0.0.1 and the socket only: nothing else can reach this port's cluster anyway.
    await pgRun('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    await start();
  } catch (err) {
    await cluster.drop();
    throw err;
  }
  return cluster;
}

/** A TCP port free on 127.0.0.1 right now (the kernel picks it; the postmaster takes it a moment later). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
