// Whether an error means the database connection failed under a request (the server went away, a failover,
// a cut connection, a standby that does not take writes yet), as opposed to the statement itself failing.
// After such an error the request's last COMMIT may or may not have taken effect: the answer says so
// (SERVICE_UNAVAILABLE, retry with the same Idempotency-Key), not "internal error".

/** Node socket errors. */
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
/**
 * SQLSTATEs: class 08 (connection exception), 57P01-57P03 (the server shutting down, crashed, not accepting
 * connections yet), 25006 (read-only transaction: a standby reached before or during promotion).
 */
const SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|25006)$/;
/** pg's messages for a connection lost or refused (they carry no code), and Prisma's driver-adapter kinds. */
const MESSAGES =
  /Connection terminated|Client has encountered a connection error|connection timeout|timeout exceeded when trying to connect|ConnectionClosed|DatabaseNotReachable|SocketTimeout|the database system is (?:shutting down|starting up|in recovery mode)|terminating connection/i;

export function isConnectionLoss(err: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): boolean => {
    if (e === null || typeof e !== 'object' || seen.has(e) || depth > 6) return false;
    seen.add(e);
    const o = e as Record<string, unknown>;
    for (const key of ['code', 'originalCode', 'kind', 'errno']) {
      const v = o[key];
      if (typeof v === 'string' && (SOCKET_CODES.has(v) || SQLSTATE.test(v) || MESSAGES.test(v))) return true;
    }
    for (const key of ['message', 'originalMessage', 'reason']) {
      const v = o[key];
      if (typeof v === 'string' && MESSAGES.test(v)) return true;
    }
    return ['cause', 'originalError', 'meta', 'driverAdapterError', 'error'].some((key) => visit(o[key], depth + 1));
  };
  return visit(err, 0);
}
