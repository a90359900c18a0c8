-- Plans that do not depend on statistics (issue 13). Before ANALYZE has run (a new database, autovacuum off,
-- right after a restore or an upgrade) the planner guesses 0.5% for each equality, so an index whose leading
-- columns match two of a lookup's tenant columns (merchant_id AND mode) looks as selective as the primary
-- key: the masked read of a merchant with 34k cards used the dedupe index and filtered every card of the
-- merchant. Indexes that are not the lookup's key now lead with the merchant and then their own key column,
-- so for a lookup by id they match one column at most and the primary key is the only sensible path.
-- Tested in test/integration/plans.test.ts, with and without statistics.

-- Duplicates: (merchant, fingerprint, mode, customer) instead of (merchant, mode, customer, fingerprint).
CREATE UNIQUE INDEX "payment_methods_merchant_id_fingerprint_mode_customer_id_key"
  ON "payment_methods"("merchant_id", "fingerprint", "mode", "customer_id") NULLS NOT DISTINCT;
DROP INDEX "payment_methods_merchant_id_mode_customer_id_fingerprint_key";

-- Listing a merchant's customers newest first: mode moves behind the sort columns (still checked in the index).
CREATE INDEX "customers_merchant_id_created_at_id_mode_idx" ON "customers"("merchant_id", "created_at" DESC, "id" DESC, "mode");
DROP INDEX "customers_merchant_id_mode_created_at_id_idx";
