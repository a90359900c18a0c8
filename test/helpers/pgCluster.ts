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
  /** SIGKILL of the postmaster: the host lost, as a failover drill does it (its backends die with it). */
  kill(): Promise<void>;
  /** Ends recovery of a standby (`pg_ctl promote`) and waits until it accepts writes. */
  promote(): Promise<void>;
}

export interface StandbyOptions {
  /** The primary waits for this standby's flush before a commit returns (synchronous_standby_names). */
  synchronous?: boolean;
}

/** initdb in a fresh temporary directory and start the cluster on a free port of 127.0.0.1. */
export async function startPgCluster(): Promise<PgCluster> {
  const cluster = await newCluster();
  try {
    // trust on 127.0.0.1 and the socket only: nothing else can reach this port's cluster anyway. initdb's
    // pg_hba.conf also trusts replication connections from 127.0.0.1 (startStandby).
    await cluster.run('initdb', ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    await cluster.start();
  } catch (err) {
    await cluster.drop();
    throw err;
  }
  return cluster;
}

/**
 * A streaming standby of `primary`: pg_basebackup -R (a base backup that starts as a standby following it),
 * in its own directory and port. With `synchronous`, the primary's commits wait for this standby's flush,
 * so anything acknowledged survives the primary's loss once the standby is promoted.
 */
export async function startStandby(primary: PgCluster, { synchronous = true }: StandbyOptions = {}): Promise<PgCluster> {
  const standby = await newCluster();
  const name = `standby_${standby.port}`;
  try {
    await standby.run('pg_basebackup', [
      '-D',
      standby.dataDir,
      '-d',
      `host=127.0.0.1 port=${primary.port} user=postgres application_name=${name}`,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
      '--no-sync',
    ]);
    await standby.start();
    if (synchronous) {
      await sqlOn(primary.url(), `ALTER SYSTEM SET synchronous_standby_names = '${name}'`);
      await sqlOn(primary.url(), 'SELECT pg_reload_conf()');
    }
    // Streaming (and, when synchronous, counted as such) before anyone relies on it.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const rows = await sqlOn(primary.url(), 'SELECT sync_state FROM pg_stat_replication WHERE application_name = $1 AND state = $2', [
        name,
        'streaming',
      ]);
      if (rows.some((r) => (synchronous ? r.sync_state === 'sync' : true))) break;
      if (Date.now() > deadline) throw new Error(`standby ${name} is not streaming: ${standby.log().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await standby.drop();
    throw err;
  }
  return standby;
}

interface NewCluster extends PgCluster {
  dataDir: string;
  run(bin: string, args: string[]): Promise<unknown>;
}

/** The directory, port and controls of a cluster whose data directory is still to be made. */
async function newCluster(): Promise<NewCluster> {
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

  return {
    port,
    dir,
    dataDir,
    run: pgRun,
    url,
    async createDatabase(name) {
      await sqlOn(url(), `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return url(name);
    },
    stop,
    start,
    async restart(mode = 'fast') {
      await stop(mode);
      await start();
    },
    async kill() {
      const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGKILL');
      // Gone, and its backends with it (they notice the postmaster's death and exit): the port is closed.
      const deadline = Date.now() + 30_000;
      while (
        alive(pid) ||
        (await sqlOn(url(), 'SELECT 1').then(
          () => true,
          () => false,
        ))
      ) {
        if (Date.now() > deadline) throw new Error(`postmaster ${pid} still answers after SIGKILL`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async promote() {
      await pgRun('pg_ctl', ['promote', '-w', '-t', '60', '-D', dataDir]);
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
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One statement on a connection of its own: its rows. */
async function sqlOn(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // A refused connection emits 'error' as well as rejecting; swallowed here, the rejection is enough.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A TCP port free on 127.0.0.1 right now (the kernel picks it; the process given it takes it a moment later). */
export async function freePort(): Promise<number> {
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
