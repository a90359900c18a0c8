// A PostgreSQL wire-protocol server that gives each client connection its own session on top of PGlite's
// single backend, so `pg`, Prisma's adapter and the migration runner see what a real server would give them.
//
// Why not one backend per connection: PGlite is one PostgreSQL backend compiled to WASM, running in this
// process; it cannot fork and has no second session. Why not @electric-sql/pglite-socket's server: it hands
// every message of every connection to that one session as it arrives, so connections share everything that
// is session-scoped, and the vault breaks on it. pg.Pool prepares the hot statements by name on each
// connection (the stores' hot statements, src/domain/paymentMethods/store.ts); a second connection, or the one replacing an idle one, prepares the
// same names again and fails with `prepared statement "…" already exists`. Messages of two connections also
// interleave inside one extended-query sequence (one's Parse between the other's Parse and Bind, one's error
// making the backend discard the other's messages until a Sync).
//
// What this layer does, per thing the protocol scopes to a session:
// - Message sequences: a connection owns the backend from its first message until the backend answers
//   ReadyForQuery 'I' (idle): a whole Parse/Bind/Describe/Execute…Sync sequence, a simple query, or a whole
//   transaction block. Other connections queue (FIFO) meanwhile. Extended-query messages are passed on only
//   with the Sync/Flush that ends them (a real server answers nothing before either), so an unfinished
//   sequence of a client that goes away is never half-run.
// - Named prepared statements and portals: renamed per connection (`c<id>s_<name>`, `c<id>p_<name>`) in
//   Parse, Bind, Describe, Close and Execute; a connection's statements are closed when it ends.
// - The unnamed statement (which outlives a Sync): the session has one. The layer remembers each
//   connection's last unnamed Parse and, when a connection binds or describes the unnamed statement after
//   another connection replaced it, parses it again first (that ParseComplete is not passed on).
// - Transactions: serialized (above); a connection that ends inside one, or mid-sequence, is rolled back.
// - Session advisory locks (`prisma migrate deploy`'s pg_advisory_lock; the vault's own runner takes
//   transaction-level ones, which transactions serialize anyway): a connection that takes one keeps the
//   backend to itself until it holds none any more (checked in pg_locks when it is idle) or ends (then
//   pg_advisory_unlock_all()). Another connection's pg_advisory_lock therefore waits, as on a real server;
//   pg_try_advisory_lock waits too instead of answering false at once.
// - LISTEN/NOTIFY: the session listens on the union of the connections' channels; a NotificationResponse is
//   passed to the connections that LISTEN on its channel (and removed from the output of those that do not).
//   A connection's UNLISTEN keeps the channels other connections still listen on; a connection's end
//   unlistens what nobody else listens on.
// Not isolated (the vault sends none of them; documented in NOTES): session-level SET/RESET/set_config,
// SQL-level PREPARE/EXECUTE/DEALLOCATE and DECLARE … WITH HOLD cursors (named in SQL text, not in protocol
// fields), temporary tables. Startup parameters (e.g. pg's statement_timeout) are not applied: PGlite starts
// its session once. CancelRequest is not supported (a statement runs synchronously inside PGlite).
import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';

/** PGlite (or anything) running raw frontend protocol bytes on its one session. */
interface RawBackend {
  /** Runs one or more complete frontend messages; resolves with every backend message they produced. */
  exec(bytes: Uint8Array): Promise<Uint8Array>;
}

export interface SessionServerOptions {
  backend: RawBackend;
  host: string;
  /** 0 picks a free port. */
  port: number;
  maxConnections?: number;
  /**
   * Asked of every connection (cleartext over the socket: the embedded server listens on loopback only).
   * Without it, any local user could connect and write to the vault's tables.
   */
  password?: string;
  log?: (msg: string) => void;
}

export interface SessionServer {
  /** The port actually bound. */
  port: number;
  /** Open client connections (tests). */
  connections(): number;
  /** Closes every connection (rolling back what they left open) and stops listening. */
  stop(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
// PostgreSQL keys prepared statements and portals by their first NAMEDATALEN-1 bytes.
const MAX_NAME = 63;

const code = (c: string) => c.charCodeAt(0);
const PARSE = code('P');
const BIND = code('B');
const DESCRIBE = code('D');
const CLOSE = code('C');
const EXECUTE = code('E');
const QUERY = code('Q');
const TERMINATE = code('X');
const FLUSH = code('H');
// Messages a real server answers only at the next Sync or Flush: never run without it.
const EXTENDED = new Set([PARSE, BIND, DESCRIBE, CLOSE, EXECUTE]);

const ADVISORY_LOCK = /\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(/i;
const LISTEN = /^\s*(UN)?LISTEN\s+("(?:[^"]|"")+"|[A-Za-z_][\w$]*|\*)\s*;?\s*$/i;

class Connection {
  inbuf: Buffer = Buffer.alloc(0);
  started = false;
  /** The startup packet, held until the password arrives. */
  awaitingPassword: Buffer | undefined;
  /** Complete messages not run yet. */
  queue: Buffer[] = [];
  closing = false;
  cleaned = false;
  pumping = false;
  /** Statement/portal names: the client's (first 63 bytes, latin1) -> the backend's. */
  readonly statements = new Map<string, Buffer>();
  readonly portals = new Map<string, Buffer>();
  /** Statements this connection may have in the session (closed when it ends). */
  readonly liveStatements = new Set<string>();
  /** This connection's last Parse of the unnamed statement (null: it has none). */
  unnamedParse: Buffer | null = null;
  readonly listening = new Set<string>();
  advisoryLocks = false;
  /** Last ReadyForQuery status; `midSequence` while extended messages ran without a Sync after them. */
  status = code('I');
  midSequence = false;

  constructor(
    readonly id: number,
    readonly socket: Socket,
  ) {}
}

export async function startSessionServer(opts: SessionServerOptions): Promise<SessionServer> {
  const { backend } = opts;
  const log = opts.log ?? (() => undefined);
  const maxConnections = opts.maxConnections ?? 100;
  const connections = new Set<Connection>();
  let nextId = 1;

  // The backend's owner and the queue of connections waiting for it.
  let owner: Connection | null = null;
  const waiters: Array<{ conn: Connection; resolve: () => void }> = [];
  /** Whose unnamed statement the session holds (null: an internal query or nobody's). */
  let unnamedOwner: Connection | null = null;
  /** Channels to LISTEN on again once the owner is idle (a connection's UNLISTEN dropped them). */
  const relisten = new Set<string>();

  const acquire = (conn: Connection): Promise<void> => {
    if (owner === conn) return Promise.resolve();
    if (!owner) {
      owner = conn;
      return Promise.resolve();
    }
    return new Promise((resolve) => waiters.push({ conn, resolve }));
  };
  const release = (conn: Connection) => {
    if (owner !== conn) return;
    owner = null;
    const next = waiters.shift();
    if (next) {
      owner = next.conn;
      next.resolve();
    }
  };

  const exec = async (bytes: Buffer): Promise<Buffer> => Buffer.from(await backend.exec(bytes));

  /** A query of the layer's own (simple protocol); returns its data rows' count and whether it failed. */
  const internal = async (sql: string): Promise<{ rows: number; failed: boolean }> => {
    unnamedOwner = null; // a simple query destroys the unnamed statement
    const out = await exec(message(QUERY, cstring(sql)));
    let rows = 0;
    let failed = false;
    for (const m of messages(out)) {
      if (m[0] === code('D')) rows++;
      if (m[0] === code('E')) failed = true;
    }
    return { rows, failed };
  };

  const backendName = (conn: Connection, map: Map<string, Buffer>, kind: 's' | 'p', name: Buffer): Buffer => {
    if (name.length === 0) return name;
    const key = name.subarray(0, MAX_NAME).toString('latin1');
    let mapped = map.get(key);
    if (!mapped) {
      const prefix = Buffer.from(`c${conn.id}${kind}_`);
      mapped =
        prefix.length + key.length <= MAX_NAME ? Buffer.concat([prefix, Buffer.from(key, 'latin1')]) : Buffer.from(`${prefix}${map.size}#`);
      map.set(key, mapped);
    }
    return mapped;
  };

  const watchSql = (conn: Connection, sql: string, effects: Array<() => void>) => {
    if (ADVISORY_LOCK.test(sql)) effects.push(() => (conn.advisoryLocks = true));
    const m = LISTEN.exec(sql);
    if (m) {
      const channel = m[2] === '*' ? '*' : m[2]!.startsWith('"') ? m[2]!.slice(1, -1).replace(/""/g, '"') : m[2]!.toLowerCase();
      if (!m[1]) effects.push(() => conn.listening.add(channel));
      else {
        effects.push(() => {
          const dropped = channel === '*' ? [...conn.listening] : [channel];
          if (channel === '*') conn.listening.clear();
          else conn.listening.delete(channel);
          // The session stopped listening for everyone: listen again on what others still want.
          for (const c of connections)
            if (c !== conn) for (const ch of c.listening) if (channel === '*' || dropped.includes(ch)) relisten.add(ch);
        });
      }
    }
  };

  /** Runs one group of messages (ending with Sync, Flush, a simple query…) for the connection owning the backend. */
  const runGroup = async (conn: Connection, group: Buffer[]): Promise<{ out: Buffer; effects: Array<() => void> }> => {
    const out: Buffer[] = [];
    const effects: Array<() => void> = [];
    let batch: Buffer[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const bytes = Buffer.concat(batch);
      batch = [];
      out.push(await exec(bytes));
    };
    /** Before the connection uses the unnamed statement: make it the connection's own again. */
    const ownUnnamed = async () => {
      if (unnamedOwner === conn) return;
      await flush();
      // Without one of its own, closing the unnamed statement makes the client's use fail as it would.
      const replay = conn.unnamedParse ?? message(CLOSE, Buffer.concat([Buffer.from('S'), cstring('')]));
      const answer = await exec(replay);
      out.push(Buffer.concat(messages(answer).filter((m) => m[0] !== code('1') && m[0] !== code('3'))));
      unnamedOwner = conn;
    };

    for (const msg of group) {
      const type = msg[0]!;
      if (type === 0) {
        // The startup packet: PGlite answers AuthenticationOk, ParameterStatus…, ReadyForQuery.
        batch.push(msg);
        await flush();
        continue;
      }
      if (type === TERMINATE) {
        conn.closing = true;
        break;
      }
      const body = msg.subarray(5);
      if (type === PARSE) {
        const [name, rest] = splitCstring(body);
        watchSql(conn, cstringAt(rest, 0), effects);
        if (name.length === 0) {
          conn.unnamedParse = msg;
          unnamedOwner = conn;
          batch.push(msg);
        } else {
          const mapped = backendName(conn, conn.statements, 's', name);
          conn.liveStatements.add(mapped.toString('latin1'));
          batch.push(message(PARSE, Buffer.concat([mapped, Buffer.from([0]), rest])));
        }
      } else if (type === BIND) {
        const [portal, afterPortal] = splitCstring(body);
        const [stmt, rest] = splitCstring(afterPortal);
        if (stmt.length === 0) await ownUnnamed();
        const p = backendName(conn, conn.portals, 'p', portal);
        const s = backendName(conn, conn.statements, 's', stmt);
        batch.push(message(BIND, Buffer.concat([p, Buffer.from([0]), s, Buffer.from([0]), rest])));
      } else if (type === DESCRIBE || type === CLOSE) {
        const kind = body[0]!;
        const [name] = splitCstring(body.subarray(1));
        const isStatement = kind === code('S');
        if (isStatement && name.length === 0) {
          await ownUnnamed();
          if (type === CLOSE) conn.unnamedParse = null;
        }
        const mapped = isStatement ? backendName(conn, conn.statements, 's', name) : backendName(conn, conn.portals, 'p', name);
        if (type === CLOSE && isStatement) conn.liveStatements.delete(mapped.toString('latin1'));
        batch.push(message(type, Buffer.concat([Buffer.from([kind]), mapped, Buffer.from([0])])));
      } else if (type === EXECUTE) {
        const [portal, rest] = splitCstring(body);
        batch.push(message(EXECUTE, Buffer.concat([backendName(conn, conn.portals, 'p', portal), Buffer.from([0]), rest])));
      } else if (type === QUERY) {
        watchSql(conn, cstringAt(body, 0), effects);
        // A simple query destroys the unnamed statement.
        conn.unnamedParse = null;
        unnamedOwner = conn;
        batch.push(msg);
      } else {
        batch.push(msg);
      }
    }
    await flush();
    return { out: Buffer.concat(out), effects };
  };

  /** Routes notifications, notes the connection's transaction status; returns what goes to the connection. */
  const afterGroup = (conn: Connection, out: Buffer, lastType: number): Buffer => {
    const mine: Buffer[] = [];
    let ready: number | undefined;
    for (const m of messages(out)) {
      if (m[0] === code('A')) {
        const channel = cstringAt(m, 9);
        for (const c of connections) {
          if (!c.listening.has(channel) || c.closing) continue;
          if (c === conn) mine.push(m);
          // Another connection is idle (this one owns the backend): an asynchronous message, as a server sends it.
          else if (c.socket.writable) c.socket.write(m);
        }
        continue;
      }
      if (m[0] === code('Z')) ready = m[5];
      mine.push(m);
    }
    if (ready !== undefined) {
      conn.status = ready;
      conn.midSequence = false;
    } else if (lastType === FLUSH) {
      conn.midSequence = true;
    }
    return Buffer.concat(mine);
  };

  /** After a group: gives the backend up if the connection is idle and holds no session lock. */
  const maybeRelease = async (conn: Connection) => {
    if (conn.midSequence || conn.status !== code('I')) return;
    if (relisten.size > 0) {
      for (const ch of [...relisten]) await internal(`LISTEN ${quoteIdent(ch)}`);
      relisten.clear();
    }
    if (conn.advisoryLocks) {
      const held = await internal(`SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' LIMIT 1`);
      if (held.rows > 0) return;
      conn.advisoryLocks = false;
    }
    release(conn);
  };

  /** The connection went away: roll back what it left open, drop its statements, locks and channels. */
  const cleanup = async (conn: Connection) => {
    conn.cleaned = true;
    conn.queue = [];
    const needed = owner === conn || conn.liveStatements.size > 0 || conn.listening.size > 0 || conn.advisoryLocks;
    if (needed) {
      await acquire(conn);
      try {
        if (conn.midSequence || conn.status !== code('I')) {
          // An Execute of a portal that cannot exist fails, which aborts the implicit or explicit
          // transaction (a Sync alone would commit an implicit one); the Sync ends the sequence.
          const abort = message(EXECUTE, Buffer.concat([cstring('vault session abort'), Buffer.alloc(4)]));
          const out = await exec(Buffer.concat([abort, message(code('S'), Buffer.alloc(0))]));
          const ready = messages(out).find((m) => m[0] === code('Z'));
          if (ready && ready[5] !== code('I')) await internal('ROLLBACK');
        }
        if (conn.liveStatements.size > 0) {
          const closes = [...conn.liveStatements].map((n) =>
            message(CLOSE, Buffer.concat([Buffer.from('S'), Buffer.from(n, 'latin1'), Buffer.from([0])])),
          );
          await exec(Buffer.concat([...closes, message(code('S'), Buffer.alloc(0))]));
          conn.liveStatements.clear();
        }
        if (conn.advisoryLocks) await internal('SELECT pg_catalog.pg_advisory_unlock_all()');
        const channels = [...conn.listening];
        conn.listening.clear();
        for (const ch of channels) {
          if (![...connections].some((c) => c !== conn && c.listening.has(ch))) await internal(`UNLISTEN ${quoteIdent(ch)}`);
        }
      } catch (err) {
        log(`embedded database: cleaning up connection ${conn.id} failed: ${(err as Error).message}`);
      } finally {
        release(conn);
      }
    }
    if (unnamedOwner === conn) unnamedOwner = null;
    connections.delete(conn);
    if (!conn.socket.destroyed) conn.socket.end();
  };

  const nextGroup = (conn: Connection): Buffer[] | undefined => {
    const end = conn.queue.findIndex((m) => !EXTENDED.has(m[0]!));
    if (end === -1) return undefined;
    return conn.queue.splice(0, end + 1);
  };

  const hasGroup = (conn: Connection) => conn.queue.some((m) => !EXTENDED.has(m[0]!));

  const pump = async (conn: Connection) => {
    if (conn.pumping || conn.cleaned) return;
    conn.pumping = true;
    try {
      for (;;) {
        // A closed connection's complete messages still run, as a server runs what it received.
        const group = nextGroup(conn);
        if (!group) break;
        await acquire(conn);
        let out: Buffer;
        try {
          const run = await runGroup(conn, group);
          out = afterGroup(conn, run.out, group[group.length - 1]![0]!);
          for (const effect of run.effects) effect();
        } catch (err) {
          // PGlite itself failed (not an SQL error, which is an ErrorResponse): this connection cannot go on.
          log(`embedded database: connection ${conn.id}: ${(err as Error).message}`);
          conn.closing = true;
          conn.socket.destroy();
          break;
        }
        if (out.length > 0 && conn.socket.writable) conn.socket.write(out);
        if (conn.closing) break;
        await maybeRelease(conn);
      }
      if (conn.closing) await cleanup(conn);
    } finally {
      conn.pumping = false;
    }
    // Arrived while the loop was finishing.
    if (!conn.cleaned && (conn.closing || hasGroup(conn))) void pump(conn);
  };

  const onData = (conn: Connection, data: Buffer) => {
    conn.inbuf = conn.inbuf.length === 0 ? data : Buffer.concat([conn.inbuf, data]);
    for (;;) {
      const buf = conn.inbuf;
      if (!conn.started) {
        if (buf.length < 8) break;
        const len = buf.readInt32BE(0);
        if (len < 8 || len > 10_000) return protocolError(conn, 'invalid startup packet length');
        if (buf.length < len) break;
        const requestCode = buf.readInt32BE(4);
        const packet = Buffer.from(buf.subarray(0, len));
        conn.inbuf = buf.subarray(len);
        if (requestCode === SSL_REQUEST || requestCode === GSSENC_REQUEST) {
          conn.socket.write('N');
        } else if (requestCode === CANCEL_REQUEST) {
          conn.socket.end();
          return;
        } else if (requestCode === PROTOCOL_3) {
          conn.started = true;
          if (opts.password === undefined) {
            conn.queue.push(packet);
          } else {
            // AuthenticationCleartextPassword; the startup packet goes to PGlite once the password matched.
            conn.awaitingPassword = packet;
            conn.socket.write(message(code('R'), int32(3)));
          }
        } else {
          return protocolError(conn, `unsupported frontend protocol ${requestCode >> 16}.${requestCode & 0xffff}`);
        }
      } else {
        if (buf.length < 5) break;
        const len = buf.readInt32BE(1);
        if (len < 4 || (conn.awaitingPassword && len > 1_024)) return protocolError(conn, 'invalid message length');
        if (buf.length < len + 1) break;
        const msg = Buffer.from(buf.subarray(0, len + 1));
        conn.inbuf = buf.subarray(len + 1);
        if (conn.awaitingPassword) {
          if (msg[0] !== code('p') || !passwordMatches(msg.subarray(5), opts.password!)) {
            conn.queue = [];
            conn.socket.end(errorResponse('28P01', 'password authentication failed'));
            conn.closing = true;
            return;
          }
          conn.queue.push(conn.awaitingPassword);
          conn.awaitingPassword = undefined;
          continue;
        }
        conn.queue.push(msg);
      }
    }
    void pump(conn);
  };

  const protocolError = (conn: Connection, text: string) => {
    conn.queue = [];
    conn.socket.end(errorResponse('08P01', text));
    conn.closing = true;
    void pump(conn);
  };

  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    if (connections.size >= maxConnections) {
      socket.end(errorResponse('53300', 'sorry, too many clients already'));
      return;
    }
    const conn = new Connection(nextId++, socket);
    connections.add(conn);
    socket.on('data', (data: Buffer) => onData(conn, data));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      conn.closing = true;
      void pump(conn);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;

  return {
    port,
    connections: () => connections.size,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const conn of connections) conn.socket.destroy();
      // Each connection's cleanup (rollback) runs before the caller closes PGlite.
      const deadline = Date.now() + 5_000;
      while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await closed;
    },
  };
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

function message(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function cstring(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

/** The NUL-terminated string at the start of `buf` (without its NUL) and what follows it. */
function splitCstring(buf: Buffer): [Buffer, Buffer] {
  const end = buf.indexOf(0);
  if (end === -1) return [buf, Buffer.alloc(0)];
  return [buf.subarray(0, end), buf.subarray(end + 1)];
}

function cstringAt(buf: Buffer, offset: number): string {
  const end = buf.indexOf(0, offset);
  return buf.toString('utf8', offset, end === -1 ? buf.length : end);
}

/** The backend messages in `out` (complete ones: PGlite returns whole messages). */
function messages(out: Buffer): Buffer[] {
  const list: Buffer[] = [];
  let i = 0;
  while (i + 5 <= out.length) {
    const len = out.readInt32BE(i + 1);
    list.push(out.subarray(i, i + 1 + len));
    i += 1 + len;
  }
  return list;
}

/** A PasswordMessage's body (the password and its NUL) against the expected one, in constant time. */
function passwordMatches(body: Buffer, expected: string): boolean {
  const want = Buffer.concat([Buffer.from(expected, 'utf8'), Buffer.from([0])]);
  return body.length === want.length && timingSafeEqual(body, want);
}

function errorResponse(sqlstate: string, text: string): Buffer {
  const field = (t: string, v: string) => Buffer.concat([Buffer.from(t), cstring(v)]);
  return message(
    code('E'),
    Buffer.concat([field('S', 'FATAL'), field('V', 'FATAL'), field('C', sqlstate), field('M', text), Buffer.from([0])]),
  );
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
