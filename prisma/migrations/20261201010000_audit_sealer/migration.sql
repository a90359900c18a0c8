-- The audit trail without a per-merchant lock (issue 13): appending an event is one INSERT that takes no
-- lock and reads nothing; a single sealer links committed events into each merchant's hash chain shortly
-- after (src/domain/audit/sealer.ts), Certificate-Transparency style: writers queue leaves, one sequencer
-- orders them.
--
-- audit_events: the events, append-only. `position` is a global sequence, taken at insert. Nothing in the
-- INSERT depends on any other row, so one merchant's writes never wait on each other.
-- audit_links: the chain, append-only too. One row per sealed event: its per-merchant `seq`, `prev_hash`
-- and `hash`. A separate table (rather than filling NULL columns of audit_events once) keeps both tables
-- strictly insert-only (no trigger exception, no dead tuples: autovacuum may be off) and keeps the hot
-- INSERT free of any chain column.
--
-- Existing chains: every row keeps its seq, prev_hash and hash (moved into audit_links); the rows get
-- positions in (merchant, seq) order, before anything appended from now on, and the sealer continues each
-- merchant's chain from its last link.

DROP FUNCTION "audit_append"(TEXT, "Mode", TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, JSONB);
DROP FUNCTION "audit_event_hash"("audit_events");

ALTER TABLE "audit_events" RENAME TO "audit_events_v1";
ALTER TABLE "audit_events_v1" RENAME CONSTRAINT "audit_events_pkey" TO "audit_events_v1_pkey";
ALTER TABLE "audit_events_v1" RENAME CONSTRAINT "audit_events_merchant_id_fkey" TO "audit_events_v1_merchant_id_fkey";
ALTER INDEX "audit_events_merchant_id_id_key" RENAME TO "audit_events_v1_merchant_id_id_key";
ALTER INDEX "audit_events_merchant_id_entity_id_seq_idx" RENAME TO "audit_events_v1_merchant_id_entity_id_seq_idx";

CREATE TABLE "audit_events" (
    "merchant_id" TEXT NOT NULL,
    "position" BIGSERIAL NOT NULL,
    "id" TEXT NOT NULL,
    "mode" "Mode",
    "action" TEXT NOT NULL,
    "entity_type" TEXT NOT NULL,
    "entity_id" TEXT,
    "key_id" TEXT NOT NULL,
    "request_id" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "detail" JSONB,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("merchant_id","position")
);

CREATE TABLE "audit_links" (
    "merchant_id" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "position" BIGINT NOT NULL,
    -- Before the hashes: in pg_dump's text the genesis hash (64 zeros) then follows a timestamp, not the
    -- digits of `position` (the end-of-run scan would read those digits and zeros as a card number).
    "sealed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_links_pkey" PRIMARY KEY ("merchant_id","seq")
);

INSERT INTO "audit_events" ("merchant_id", "position", "id", "mode", "action", "entity_type", "entity_id", "key_id",
                            "request_id", "outcome", "detail", "at")
  SELECT "merchant_id", row_number() OVER (ORDER BY "merchant_id", "seq"), "id", "mode", "action", "entity_type", "entity_id",
         "key_id", "request_id", "outcome", "detail", "at"
    FROM "audit_events_v1";
INSERT INTO "audit_links" ("merchant_id", "seq", "position", "prev_hash", "hash", "sealed_at")
  SELECT o."merchant_id", o."seq", n."position", o."prev_hash", o."hash", o."at"
    FROM "audit_events_v1" o JOIN "audit_events" n ON n."merchant_id" = o."merchant_id" AND n."id" = o."id";
SELECT setval(pg_get_serial_sequence('"audit_events"', 'position'), coalesce(max("position"), 0) + 1, false) FROM "audit_events";

DROP TABLE "audit_events_v1";

CREATE UNIQUE INDEX "audit_events_merchant_id_id_key" ON "audit_events"("merchant_id", "id");
CREATE INDEX "audit_events_merchant_id_entity_id_position_idx" ON "audit_events"("merchant_id", "entity_id", "position");
CREATE INDEX "audit_events_position_idx" ON "audit_events"("position");
CREATE UNIQUE INDEX "audit_links_merchant_id_position_key" ON "audit_links"("merchant_id", "position");
CREATE INDEX "audit_links_position_idx" ON "audit_links"("position");

ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "audit_links" ADD CONSTRAINT "audit_links_merchant_id_position_fkey" FOREIGN KEY ("merchant_id", "position") REFERENCES "audit_events"("merchant_id", "position") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Both tables are append-only (the function is the one the first audit migration created).
CREATE TRIGGER "audit_events_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_events"
  FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();
CREATE TRIGGER "audit_links_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_links"
  FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();
CREATE TRIGGER "audit_links_no_truncate" BEFORE TRUNCATE ON "audit_links"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();

-- audit_event_hash: the one definition of the chain's hash, used by the sealer and by `audit verify`:
-- SHA-256 (hex) of the previous link's hash followed by a JSON array of the event's fields and its seq;
-- jsonb's text form is canonical, `at` counts as epoch milliseconds. The same formula as before this
-- migration (the fields then lived on one row), so chains sealed under the old scheme still verify.
CREATE FUNCTION "audit_event_hash"(e "audit_events", p_seq BIGINT, p_prev_hash TEXT) RETURNS TEXT LANGUAGE sql STABLE AS $$
  SELECT encode(sha256(convert_to(p_prev_hash || jsonb_build_array(
    e.merchant_id, p_seq, e.id, e.mode, e.action, e.entity_type, e.entity_id, e.key_id, e.request_id,
    e.outcome, e.detail, (extract(epoch FROM e.at) * 1000)::bigint)::text, 'UTF8')), 'hex')
$$;

-- audit_append: one INSERT in the caller's transaction; no lock, no read. Same arguments and result type
-- (the new row) as before, so the hot statements' `LATERAL audit_append(...)` is unchanged. plpgsql keeps
-- the INSERT's plan cached per connection.
CREATE FUNCTION "audit_append"(
  p_merchant_id TEXT, p_mode "Mode", p_id TEXT, p_action TEXT, p_entity_type TEXT, p_entity_id TEXT,
  p_key_id TEXT, p_request_id TEXT, p_outcome TEXT, p_detail JSONB
) RETURNS "audit_events" LANGUAGE plpgsql AS $$
DECLARE
  e "audit_events";
BEGIN
  -- Stored with millisecond precision: hash what is stored.
  INSERT INTO "audit_events" ("merchant_id", "id", "mode", "action", "entity_type", "entity_id", "key_id", "request_id",
                              "outcome", "detail", "at")
    VALUES (p_merchant_id, p_id, p_mode, p_action, p_entity_type, p_entity_id, p_key_id, p_request_id, p_outcome, p_detail,
            date_trunc('milliseconds', clock_timestamp()))
    RETURNING * INTO e;
  RETURN e;
END;
$$;

-- audit_seal: links the events appended so far into their merchants' chains, in position order, at most
-- p_limit of them; returns how many it linked. Stateless and safe for any caller: the elected sealer calls
-- it every second, `audit seal` and the tests call it directly; a transaction-level advisory lock makes
-- callers take turns.
--
-- Why it waits (the Trillian lesson): a position is taken at insert, but transactions commit out of order.
-- "Everything after the last sealed position" would step over an event whose transaction is still in
-- flight, and that event could then never take its place. So the frontier is made final first:
--   1. upto := the last position handed out (the sequence, read outside MVCC);
--   2. holders := the transactions holding a lock on audit_events (every writer takes RowExclusiveLock on
--      it before its INSERT draws a position, and keeps it until it ends); so every position <= upto
--      belongs to a transaction that has ended or is one of the holders;
--   3. wait until none of the holders is left (request transactions last milliseconds), at most
--      p_wait_ms; if some are still open, seal nothing this time (the next call starts over);
--   4. every position <= upto is now final (committed and visible, or rolled back and never visible):
--      link the unlinked ones above the last linked position, in position order.
-- The chain is therefore in position order, which `audit verify` checks. Only transactions that write
-- audit events in this database can delay sealing (not long transactions elsewhere, as an xmin horizon
-- would); one left open (idle in transaction) delays it until it ends.
CREATE FUNCTION "audit_seal"(p_limit INT, p_wait_ms INT) RETURNS INT LANGUAGE plpgsql AS $$
DECLARE
  upto BIGINT;
  holders TEXT[];
  waited_ms DOUBLE PRECISION := 0;
  pause_ms DOUBLE PRECISION := 1;
  after_pos BIGINT;
  e "audit_events";
  v_seq BIGINT;
  v_prev TEXT;
  n INT := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(72707371, 1);
  SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO upto FROM "audit_events_position_seq";
  SELECT array_agg(virtualtransaction) INTO holders FROM pg_catalog.pg_locks
   WHERE locktype = 'relation' AND relation = '"audit_events"'::regclass AND pid <> pg_backend_pid()
     AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database());
  WHILE holders IS NOT NULL LOOP
    SELECT array_agg(DISTINCT virtualtransaction) INTO holders FROM pg_catalog.pg_locks
     WHERE locktype = 'relation' AND relation = '"audit_events"'::regclass AND virtualtransaction = ANY (holders);
    EXIT WHEN holders IS NULL;
    IF waited_ms >= p_wait_ms THEN
      RETURN 0;
    END IF;
    PERFORM pg_sleep(pause_ms / 1000);
    waited_ms := waited_ms + pause_ms;
    pause_ms := least(pause_ms * 2, 50);
  END LOOP;
  SELECT coalesce(max("position"), 0) INTO after_pos FROM "audit_links";
  FOR e IN
    SELECT * FROM "audit_events" WHERE "position" > after_pos AND "position" <= upto ORDER BY "position" LIMIT p_limit
  LOOP
    SELECT "seq", "hash" INTO v_seq, v_prev FROM "audit_links" WHERE "merchant_id" = e.merchant_id ORDER BY "seq" DESC LIMIT 1;
    v_seq := coalesce(v_seq, 0) + 1;
    v_prev := coalesce(v_prev, repeat('0', 64));
    INSERT INTO "audit_links" ("merchant_id", "seq", "position", "prev_hash", "hash", "sealed_at")
      VALUES (e.merchant_id, v_seq, e.position, v_prev, "audit_event_hash"(e, v_seq, v_prev), clock_timestamp());
    n := n + 1;
  END LOOP;
  RETURN n;
END;
$$;
