// Whether an error means the database connection failed under a request (the server went away, a failover,
// a cut connection, a standby that does not take writes yet), as opposed to the statement itself failing.
// After such an error the request's last COMMIT may or may not have taken effect: the answer says so
// (SERVICE_UNAVAILABLE, retry with the same Idempotency-Key), not "internal error". Every kind of
// connectionErrors.ts counts: lost, a read-only standby, no free pooled connection within the budget.

import { classifyConnectionCode, classifyConnectionMessage } from './connectionErrors.js';

export function isConnectionLoss(err: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): boolean => {
    if (e === null || typeof e !== 'object' || seen.has(e) || depth > 6) return false;
    seen.add(e);
    const o = e as Record<string, unknown>;
    for (const key of ['code', 'originalCode', 'kind', 'errno']) {
      const v = o[key];
      if (typeof v === 'string' && classifyConnectionCode(v)) return true;
    }
    for (const key of ['message', 'originalMessage', 'reason']) {
      const v = o[key];
      if (typeof v === 'string' && classifyConnectionMessage(v)) return true;
    }
    return ['cause', 'originalError', 'meta', 'driverAdapterError', 'error'].some((key) => visit(o[key], depth + 1));
  };
  return visit(err, 0);
}
