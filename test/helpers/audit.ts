// Tampering with the audit trail as someone able to write its tables would, for the tests that prove
// verification catches it.

/**
 * SQL recomputing every link of a merchant's chain from its events in seq order, to hide an edit; run it with
 * session_replication_role = replica (the tables' triggers refuse it otherwise).
 */
export function rechainSql(merchantId: string): string {
  return `DO $$
  DECLARE r RECORD; prev TEXT := repeat('0', 64);
  BEGIN
    FOR r IN SELECT l.seq, e AS ev FROM audit_links l JOIN audit_events e USING (merchant_id, position)
              WHERE l.merchant_id = '${merchantId}' ORDER BY l.seq LOOP
      UPDATE audit_links SET prev_hash = prev, hash = audit_event_hash(r.ev, r.seq, prev)
       WHERE merchant_id = '${merchantId}' AND seq = r.seq RETURNING hash INTO prev;
    END LOOP;
  END $$`;
}
