// Embedded PostgreSQL for `npm start` without DATABASE_URL: PGlite (Postgres compiled to WASM, persisted in a
// folder) served over the Postgres wire protocol, so `pg`, Prisma's adapter-pg and the migration runner use it
// exactly like a real server.
//
// PGlite is a single backend (one session). src/db/pgliteSessions.ts serves it and gives each client connection
// its own session for everything the vault relies on (named prepared statements, whole extended-query
// sequences and transactions, session advisory locks, LISTEN/NOTIFY); connections take turns on the backend.
// Fine for a single-process development/demo deployment, not for production.
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { startSessionServer } from './pgliteSessions.js';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  log?: (msg: string) => void;
}

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/** The embedded database's folder is open in another live process (a server, or a CLI command without one). */
export class EmbeddedDatabaseInUse extends Error {
  constructor(dataDir: string, pid: number, lockFile: string) {
    super(
      `The embedded database in ${dataDir} is open in another process (pid ${pid}): two processes on one PGlite folder each keep their own copy and lose each other's writes. Stop it, or give this one its own VAULT_DATA_DIR (if no vault process runs, pid ${pid} is another program's: delete ${lockFile})`,
    );
    this.name = 'EmbeddedDatabaseInUse';
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const host = opts.host ?? '127.0.0.1';
  // Private to this user, as PostgreSQL requires of its data directory: PGlite writes its files 0666, and
  // the password below would not matter to a user who can write the files themselves. Only the database's
  // own folder: VAULT_DATA_DIR above it may be a folder the user shares (it is not changed).
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  await chmod(opts.dataDir, 0o700);
  const unlock = await lockDataDir(opts.dataDir);
  let db: PGlite;
  try {
    db = await PGlite.create({ dataDir: opts.dataDir });
  } catch (err) {
    await unlock();
    throw err;
  }
  // A fresh password per start, known only to this process and (through a 0600 file) the CLI: without one,
  // any local user could connect to the port and write to the vault's tables (an api key of their own).
  const password = randomBytes(24).toString('base64url');
  let server: Awaited<ReturnType<typeof startSessionServer>>;
  try {
    // The pool's planner settings (PLANNER_OPTIONS, src/db/client.ts): PGlite applies no startup parameters,
    // and its one session is every connection's.
    await db.exec('SET enable_seqscan = off');
    server = await startSessionServer({
      // PGlite's own lock around each call: nothing else may run on the session in between.
      backend: { exec: (bytes) => db.runExclusive(() => db.execProtocolRaw(bytes)) },
      host,
      port: opts.port ?? 0,
      password,
      log: opts.log,
    });
  } catch (err) {
    await db.close().finally(unlock);
    throw err;
  }
  const { port } = server;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  opts.log?.(`Embedded PostgreSQL (PGlite, data in ${opts.dataDir}) listening on ${host}:${port}`);
  return {
    url: `postgresql://postgres:${password}@${urlHost}:${port}/postgres`,
    async stop() {
      try {
        await server.stop();
      } finally {
        // Closing PGlite flushes the data directory; the folder is free once it is closed.
        await db.close().finally(unlock);
      }
    },
  };
}

/**
 * One process at a time on a PGlite folder: `<dataDir>.lock` holds the owner's pid. A lock is written whole
 * under a name of this process's own and linked into place, so it never exists empty or half written. A lock
 * whose process is gone (killed without cleaning up) is removed under a second lock (`.lock.break`), and only
 * if it still names that process: two processes breaking it at once cannot remove each other's fresh lock,
 * and the link decides which of them takes it. Returns the release, which removes the lock only while it is
 * still this process's.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = `${dataDir}.lock`;
  const breaker = `${file}.break`;
  const mine = `${file}.${process.pid}`;
  const pidIn = async (path: string) => {
    const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    return pid > 0 ? pid : undefined;
  };
  const taken = async (path: string) => {
    try {
      await link(mine, path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  };
  await writeFile(mine, `${process.pid}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      if (await taken(file)) {
        return async () => {
          if ((await pidIn(file)) === process.pid) await rm(file, { force: true });
        };
      }
      const owner = await pidIn(file);
      if (owner !== undefined && owner !== process.pid && isAlive(owner)) throw new EmbeddedDatabaseInUse(dataDir, owner, file);
      if (await taken(breaker)) {
        try {
          if ((await pidIn(file)) === owner) await rm(file, { force: true });
        } finally {
          await rm(breaker, { force: true });
        }
      } else {
        // Another process is breaking it (for a moment), or died doing so: then its breaker goes.
        const breaking = await pidIn(breaker);
        if (breaking === undefined || !isAlive(breaking)) await rm(breaker, { force: true });
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    throw new Error(`Could not take ${file}: other processes keep changing it`);
  } finally {
    await rm(mine, { force: true });
  }
}

/** Whether process `pid` runs (EPERM: it does, as another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
