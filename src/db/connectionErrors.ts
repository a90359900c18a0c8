// The one list of what a lost, refused or not-yet-usable database connection looks like, for both places that
// ask: a connection attempt worth retrying (./connectRetry.ts) and a request that failed because the
// connection did, not its statement (./connectionLoss.ts: SERVICE_UNAVAILABLE). They used to keep a list each,
// and the two had drifted apart (EAI_AGAIN in one, ECONNABORTED and most messages in the other).

/** What an error code or message says about the connection. */
export type ConnectionFailure =
  /** The connection was refused, cut or timed out, or the server is starting, stopping or recovering. */
  | 'lost'
  /** A standby, reached before or during promotion, refused a write (SQLSTATE 25006). Never a connect error. */
  | 'read-only'
  /** pg-pool waited for a free client as long as it was allowed to: not the network's fault, the pool's. */
  | 'no-free-connection';

/** Node socket and resolver errors a later attempt may not meet. */
const SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** SQLSTATEs: class 08 (connection exception), 57P01-57P03 (server shutting down, crashed, not accepting connections yet). */
const LOST_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123])$/;
const READ_ONLY_SQLSTATE = '25006';

/**
 * pg's messages for a connection lost or refused (they carry no code), the server's while it starts, stops or
 * recovers, and the kinds of Prisma's driver adapter (in `kind`, not `message`).
 */
const LOST_MESSAGES =
  /Connection terminated|Client has encountered a connection error|connection timeout|ConnectionClosed|DatabaseNotReachable|SocketTimeout|the database system is (?:shutting down|starting up|in recovery mode)|terminating connection/i;

/** pg-pool's error when no client became free within connectionTimeoutMillis. */
const NO_FREE_CONNECTION = /timeout exceeded when trying to connect/i;

/** An error's code (`code`, `originalCode`, `kind`, `errno`): a socket error, a SQLSTATE or an adapter kind. */
export function classifyConnectionCode(code: string): ConnectionFailure | undefined {
  if (SOCKET_CODES.has(code) || LOST_SQLSTATE.test(code) || LOST_MESSAGES.test(code)) return 'lost';
  if (code === READ_ONLY_SQLSTATE) return 'read-only';
  return undefined;
}

/** An error's message. */
export function classifyConnectionMessage(message: string): ConnectionFailure | undefined {
  if (NO_FREE_CONNECTION.test(message)) return 'no-free-connection';
  if (LOST_MESSAGES.test(message)) return 'lost';
  return undefined;
}
