-- Fingerprint keys per mode. A fingerprint key now belongs to one mode: a test key must not compute
-- fingerprints comparable with live ones. The existing key of each merchant becomes its LIVE key, so every
-- live fingerprint stays valid without touching a row. The TEST key is created, and the merchant's test-mode
-- payment methods re-fingerprinted under it, by the vault itself right after migrating (wrapping a key needs
-- the master key, which the database never sees): src/domain/fingerprintKeys.ts.
ALTER TABLE "data_keys" ADD COLUMN "mode" "Mode";
UPDATE "data_keys" SET "mode" = 'LIVE' WHERE "purpose" = 'FINGERPRINT';
ALTER TABLE "data_keys" ADD CONSTRAINT "data_keys_mode_check" CHECK (("purpose" = 'FINGERPRINT') = ("mode" IS NOT NULL));

-- Enumeration counters (src/domain/enumeration.ts): the distinct card numbers an api key tokenized per
-- (bin, last4), and the distinct stored cards its tokenizations hit, each member expiring after the window.
-- Only keyed HMAC tags: never a number, a truncation or an unkeyed hash.
CREATE TABLE "card_probes" (
    "merchant_id" TEXT NOT NULL,
    "group_tag" TEXT NOT NULL,
    "member_tag" TEXT NOT NULL,
    "key_id" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "card_probes_pkey" PRIMARY KEY ("merchant_id", "group_tag", "member_tag")
);
CREATE INDEX "card_probes_expires_at_idx" ON "card_probes"("expires_at");
ALTER TABLE "card_probes" ADD CONSTRAINT "card_probes_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
