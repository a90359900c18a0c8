-- Idempotency keys: ids and request fingerprints become keyed HMACs, and a stored response no longer
-- outlives the payment methods and customers it refers to.
--
-- Rows written before this migration have SHA-256 ids that the new code never computes: they could only
-- linger, unmatchable, until their 24 hours ran out. Some may also hold what the old code wrongly kept (a
-- revealed card, sealed, sent through a fragment). They are deleted now. The price: a client retrying,
-- across the upgrade, a mutation it first sent before it acts once more; deploy while clients are not
-- retrying (or accept that), as for any expiry of their 24 hours.
DELETE FROM "idempotency_keys";

-- AlterTable
ALTER TABLE "idempotency_keys" ADD COLUMN "refs" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateIndex
CREATE INDEX "idempotency_keys_refs_idx" ON "idempotency_keys" USING GIN ("refs");

-- Deleting payment methods or customers, by any path (deletePaymentMethod, deleteCustomer and its cascade,
-- the retention purge, foreign-key cascades), deletes the stored responses that refer to them, in the same
-- transaction (hand-added; Prisma cannot express triggers). Statement-level, so a purge batch of a
-- thousand rows costs one indexed DELETE.
CREATE FUNCTION "idempotency_keys_forget"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "idempotency_keys" WHERE "refs" && ARRAY(SELECT "id" FROM "gone");
  RETURN NULL;
END
$$;

CREATE TRIGGER "payment_methods_forget_idempotency_keys" AFTER DELETE ON "payment_methods"
  REFERENCING OLD TABLE AS "gone" FOR EACH STATEMENT EXECUTE FUNCTION "idempotency_keys_forget"();

CREATE TRIGGER "customers_forget_idempotency_keys" AFTER DELETE ON "customers"
  REFERENCING OLD TABLE AS "gone" FOR EACH STATEMENT EXECUTE FUNCTION "idempotency_keys_forget"();
