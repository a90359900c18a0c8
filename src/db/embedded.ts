// Embedded PostgreSQL for `npm start` without DATABASE_URL: PGlite (Postgres compiled to WASM, persisted in a
// folder) served over the Postgres wire protocol, so `pg`, Prisma's adapter-pg and the migration runner use it
// exactly like a real server.
//
// PGlite is a single backend: the socket server multiplexes client connections onto it and serializes
// queries (an open transaction keeps the backend for its connection until it ends). All connections therefore
// share one session: advisory locks never block between them, and session settings (SET) are shared.
// Fine for a single-process development/demo deployment, not for production.
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

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

// Above pg.Pool's default of 10 connections plus one-off clients (migration runner, readiness checks): the
// server answers connections beyond the limit with a non-protocol message that clients report as a garbled
// error. Queries are serialized anyway, so extra sockets cost nothing.
const MAX_CONNECTIONS = 32;

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const host = opts.host ?? '127.0.0.1';
  await mkdir(opts.dataDir, { recursive: true });
  const db = await PGlite.create({ dataDir: opts.dataDir });
  const server = new PGLiteSocketServer({ db, host, port: opts.port ?? 0, maxConnections: MAX_CONNECTIONS });
  try {
    await server.start();
  } catch (err) {
    await db.close();
    throw err;
  }
  // getServerConn() is "host:port" with the port actually bound (relevant when 0 was asked for).
  const port = Number(server.getServerConn().split(':').pop());
  const urlHost = host.includes(':') ? `[${host}]` : host;
  opts.log?.(`Embedded PostgreSQL (PGlite, data in ${opts.dataDir}) listening on ${host}:${port}`);
  return {
    url: `postgresql://postgres@${urlHost}:${port}/postgres`,
    async stop() {
      await server.stop();
      // Closing PGlite flushes the data directory.
      await db.close();
    },
  };
}
