-- The audit chain, computed by the database (hand-added; Prisma cannot express functions).
--
-- audit_event_hash: SHA-256 (hex) of the previous event's hash followed by a JSON array of the event's
-- fields; jsonb's text form is canonical (key order, spacing), and `at` counts as epoch milliseconds, so
-- the same row always hashes the same. `npm run vault -- audit verify` recomputes it for every row.
CREATE FUNCTION "audit_event_hash"(e "audit_events") RETURNS TEXT LANGUAGE sql STABLE AS $$
  SELECT encode(sha256(convert_to(e.prev_hash || jsonb_build_array(
    e.merchant_id, e.seq, e.id, e.mode, e.action, e.entity_type, e.entity_id, e.key_id, e.request_id,
    e.outcome, e.detail, (extract(epoch FROM e.at) * 1000)::bigint)::text, 'UTF8')), 'hex')
$$;

-- audit_append: appends one event to its merchant's chain in the caller's transaction, in one round trip.
-- A transaction-scoped advisory lock per merchant orders concurrent writers, so seq has no gaps and each
-- event links to the one before it; the lock is held until the caller's transaction ends.
CREATE FUNCTION "audit_append"(
  p_merchant_id TEXT, p_mode "Mode", p_id TEXT, p_action TEXT, p_entity_type TEXT, p_entity_id TEXT,
  p_key_id TEXT, p_request_id TEXT, p_outcome TEXT, p_detail JSONB
) RETURNS "audit_events" LANGUAGE plpgsql AS $$
DECLARE
  e "audit_events";
  last_seq BIGINT;
  last_hash TEXT;
BEGIN
  PERFORM pg_advisory_xact_lock(72707370, hashtext(p_merchant_id));
  SELECT seq, hash INTO last_seq, last_hash FROM "audit_events" WHERE merchant_id = p_merchant_id ORDER BY seq DESC LIMIT 1;
  e.merchant_id := p_merchant_id;
  e.seq := coalesce(last_seq, 0) + 1;
  e.id := p_id;
  e.mode := p_mode;
  e.action := p_action;
  e.entity_type := p_entity_type;
  e.entity_id := p_entity_id;
  e.key_id := p_key_id;
  e.request_id := p_request_id;
  e.outcome := p_outcome;
  e.detail := p_detail;
  -- Stored with millisecond precision: hash what is stored.
  e.at := date_trunc('milliseconds', clock_timestamp());
  e.prev_hash := coalesce(last_hash, repeat('0', 64));
  e.hash := "audit_event_hash"(e);
  INSERT INTO "audit_events" SELECT e.*;
  RETURN e;
END;
$$;
