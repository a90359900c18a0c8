// Embedded PostgreSQL for `npm start` without DATABASE_URL: PGlite (Postgres compiled to WASM, persisted in a
// folder) served over the Postgres wire protocol, so `pg`, Prisma's adapter-pg and the migration runner use it
// exactly like a real server.
//
// PGlite is a single backend (one session). src/db/pgliteSessions.ts serves it and gives each client connection
// its own session for everything the vault relies on (named prepared statements, whole extended-query
// sequences and transactions, session advisory locks, LISTEN/NOTIFY); connections take turns on the backend.
// Fine for a single-process development/demo deployment, not for production.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
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

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const host = opts.host ?? '127.0.0.1';
  await mkdir(opts.dataDir, { recursive: true });
  const db = await PGlite.create({ dataDir: opts.dataDir });
  // The pool's planner settings (PLANNER_OPTIONS, src/db/client.ts): PGlite applies no startup parameters,
  // and its one session is every connection's.
  await db.exec('SET enable_seqscan = off');
  // A fresh password per start, known only to this process and (through a 0600 file) the CLI: without one,
  // any local user could connect to the port and write to the vault's tables (an api key of their own).
  const password = randomBytes(24).toString('base64url');
  let server: Awaited<ReturnType<typeof startSessionServer>>;
  try {
    server = await startSessionServer({
      // PGlite's own lock around each call: nothing else may run on the session in between.
      backend: { exec: (bytes) => db.runExclusive(() => db.execProtocolRaw(bytes)) },
      host,
      port: opts.port ?? 0,
      password,
      log: opts.log,
    });
  } catch (err) {
    await db.close();
    throw err;
  }
  const { port } = server;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  opts.log?.(`Embedded PostgreSQL (PGlite, data in ${opts.dataDir}) listening on ${host}:${port}`);
  return {
    url: `postgresql://postgres:${password}@${urlHost}:${port}/postgres`,
    async stop() {
      await server.stop();
      // Closing PGlite flushes the data directory.
      await db.close();
    },
  };
}
