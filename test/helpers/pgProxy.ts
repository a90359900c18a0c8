// A TCP proxy in front of PostgreSQL for failover tests: what a virtual IP or HAProxy is to the vault (one
// address; behind it, whichever server is the primary now). `pointTo` moves it to another server and cuts
// every open connection, as HAProxy does when its health check marks the old primary down.
//
// It also reads the frontend/backend protocol far enough to lose one answer on purpose: `holdNextCommit`
// lets the next COMMIT through to the server, swallows the server's reply (the commit is durable, on the
// synchronous standby too) and never relays it; the connection ends when its server does (the test kills
// it) or the proxy is re-pointed. The vault then sees exactly what a crash between commit and
// acknowledgement looks like.
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';

export interface HeldCommit {
  /** Resolves once the server answered the COMMIT (the answer is held back from the vault). */
  committed: Promise<void>;
}

export interface PgProxy {
  port: number;
  /** Where it forwards new connections now. */
  target(): number;
  /** Forwards new connections to `port` and cuts every connection open now. */
  pointTo(port: number): void;
  /**
   * Arms the proxy: the next COMMIT of a transaction whose statements or parameters contain `marker` (the
   * transaction of one request, among the load's) is let through and its answer held (see above).
   */
  holdNextCommit(marker: string): HeldCommit;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startPgProxy(targetPort: number): Promise<PgProxy> {
  let target = targetPort;
  let accepted = 0;
  const open = new Set<Socket>();
  let armed: { marker: string; resolve: () => void } | undefined;

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = new Socket();
    open.add(client);
    open.add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    upstream.connect(target, '127.0.0.1');

    // Client -> server: parsed into messages so a COMMIT can be recognised. The first message (startup,
    // or an SSL/GSS request) has no type byte.
    let buffered = Buffer.alloc(0);
    let started = false;
    // Set once this connection's COMMIT went through while armed: the server's reply is swallowed.
    let holding: { resolve: () => void } | undefined;
    // What this connection's open transaction sent: SQL text and parameters (pg sends them as text).
    let transaction = '';
    client.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const headerLength = started ? 5 : 4;
        if (buffered.length < headerLength) return;
        const length = started ? buffered.readInt32BE(1) + 1 : buffered.readInt32BE(0);
        if (buffered.length < length) return;
        const message = buffered.subarray(0, length);
        buffered = buffered.subarray(length);
        if (!started) {
          // An SSLRequest (80877103) or GSSENCRequest (80877104) is followed by another startup message.
          const code = message.length >= 8 ? message.readInt32BE(4) : 0;
          if (code !== 80877103 && code !== 80877104) started = true;
        } else if (isCommit(message)) {
          if (armed && !holding && transaction.includes(armed.marker)) {
            holding = { resolve: armed.resolve };
            armed = undefined;
          }
          transaction = '';
        } else if (armed && 'PBQ'.includes(String.fromCharCode(message[0]!))) {
          transaction += message.toString('latin1');
        }
        upstream.write(message);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (holding) {
        // The reply to the COMMIT (CommandComplete, ReadyForQuery): it never reaches the vault.
        holding.resolve();
        return;
      }
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    target: () => target,
    pointTo(next) {
      target = next;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    holdNextCommit(marker) {
      let resolve!: () => void;
      const committed = new Promise<void>((r) => (resolve = r));
      armed = { marker, resolve };
      return { committed };
    },
    connections: () => accepted,
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A simple Query, or a Parse of the extended protocol, whose SQL is COMMIT (or END). */
function isCommit(message: Buffer): boolean {
  const type = String.fromCharCode(message[0]!);
  let sql: string;
  if (type === 'Q') sql = message.subarray(5, message.length - 1).toString('utf8');
  else if (type === 'P') {
    // Parse: statement name (C string), then the query (C string).
    const nameEnd = message.indexOf(0, 5);
    sql = message.subarray(nameEnd + 1, message.indexOf(0, nameEnd + 1)).toString('utf8');
  } else return false;
  return /^\s*(COMMIT|END)\b/i.test(sql);
}
