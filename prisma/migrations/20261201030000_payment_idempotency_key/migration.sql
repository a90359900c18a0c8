-- A payment made under an Idempotency-Key records the key (its keyed digest, as idempotency_keys.id) and the
-- request's fingerprint in its own row, committed in the payment's transaction. A retry after an ambiguous
-- failure (the commit reached the database, its confirmation did not reach the vault: a failover, a cut
-- connection) finds the payment and answers it instead of authorizing a second time, even when the
-- idempotency record itself could not be completed. The sweep clears both columns after 24 hours, when the
-- client may use the key again.
-- AlterTable
ALTER TABLE "payments" ADD COLUMN "idempotency_key_id" TEXT,
ADD COLUMN "idempotency_request_hash" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "payments_merchant_id_idempotency_key_id_key" ON "payments"("merchant_id", "idempotency_key_id");
