-- Api-key changes announced on the `vault_api_keys` channel (hand-added; Prisma cannot express triggers).
-- Servers cache authenticated keys per process (src/domain/apiKeyCache.ts) and evict on these notifications,
-- so a key revoked or changed by any means (the CLI, an operator's SQL, a merchant's cascade delete) stops
-- working at once. The payload is the key hash (never the key), or '*' for a TRUNCATE: everything goes.
-- NOTIFY is transactional: listeners hear of a change only once it commits, and never of a rolled-back one.
-- INSERT notifies nothing: an unknown key is never cached.
CREATE FUNCTION "api_keys_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('vault_api_keys', '*');
    RETURN NULL;
  END IF;
  PERFORM pg_notify('vault_api_keys', OLD.key_hash);
  IF TG_OP = 'UPDATE' AND NEW.key_hash IS DISTINCT FROM OLD.key_hash THEN
    PERFORM pg_notify('vault_api_keys', NEW.key_hash);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "api_keys_notify_row" AFTER UPDATE OR DELETE ON "api_keys"
  FOR EACH ROW EXECUTE FUNCTION "api_keys_notify"();

CREATE TRIGGER "api_keys_notify_truncate" AFTER TRUNCATE ON "api_keys"
  FOR EACH STATEMENT EXECUTE FUNCTION "api_keys_notify"();
