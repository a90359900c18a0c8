-- Moving cards in and the account updater.
-- card_imports: one row per imported file (by the SHA-256 of its bytes as given, encrypted or not) per
-- merchant and mode; rows_done is the last data row whose batch committed, what a rerun resumes after.
-- No card data: only counts.
CREATE TABLE "card_imports" (
    "merchant_id" TEXT NOT NULL,
    "mode" "Mode" NOT NULL,
    "file_hash" TEXT NOT NULL,
    "rows_done" INTEGER NOT NULL DEFAULT 0,
    "finished_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "card_imports_pkey" PRIMARY KEY ("merchant_id", "mode", "file_hash"),
    CONSTRAINT "card_imports_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- The account updater: what it last said about a card (NULL: nothing to report) and when it was asked.
-- A card asked once is not asked again until its number or expiry changes through the updater (which sets
-- the answer) — the sandbox answers once per card.
CREATE TYPE "UpdaterStatus" AS ENUM ('UPDATED', 'CLOSED');
ALTER TABLE "payment_methods" ADD COLUMN "updater_status" "UpdaterStatus";
ALTER TABLE "payment_methods" ADD COLUMN "updater_checked_at" TIMESTAMPTZ(3);

-- An import matches customers by the merchant's reference: one lookup per new reference.
-- Led by the merchant and the reference, not the mode: a lookup by (merchant, mode, id) must not find this
-- index as selective as the primary key when no statistics exist (as migration 20261201000000 explains).
CREATE INDEX "customers_merchant_id_merchant_reference_id_mode_idx" ON "customers"("merchant_id", "merchant_reference_id", "mode");
