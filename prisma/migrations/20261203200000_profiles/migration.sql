-- Profiles (business units of a merchant, `pro_…`). Every merchant has exactly one default profile (created
-- with the merchant, and here one for each existing merchant; only that creation sets is_default). Customers, payment methods, card tokens and
-- payments belong to one profile (profile_id NOT NULL); existing rows are backfilled into their merchant's
-- default profile. An api key may be restricted to one profile (api_keys.profile_id; NULL: every profile).
-- PSP and network tokens belong to their payment method and carry no profile of their own.
CREATE TABLE "profiles" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "is_default" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "profiles_pkey" PRIMARY KEY ("merchant_id","id")
);
ALTER TABLE "profiles" ADD CONSTRAINT "profiles_merchant_id_fkey"
  FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
-- Hex is a subset of the base62 alphabet: these ids have the shape of newId('pro').
INSERT INTO "profiles" ("merchant_id", "id", "name", "is_default")
  SELECT m."id", 'pro_' || substr(md5(random()::text || clock_timestamp()::text || m."id"), 1, 22), 'default', true
  FROM "merchants" m;

ALTER TABLE "api_keys" ADD COLUMN "profile_id" TEXT;
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_merchant_id_profile_id_fkey"
  FOREIGN KEY ("merchant_id", "profile_id") REFERENCES "profiles"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "customers" ADD COLUMN "profile_id" TEXT;
ALTER TABLE "payment_methods" ADD COLUMN "profile_id" TEXT;
ALTER TABLE "card_tokens" ADD COLUMN "profile_id" TEXT;
ALTER TABLE "payments" ADD COLUMN "profile_id" TEXT;

UPDATE "customers" t SET "profile_id" = p."id" FROM "profiles" p WHERE p."merchant_id" = t."merchant_id" AND p."is_default";
UPDATE "payment_methods" t SET "profile_id" = p."id" FROM "profiles" p WHERE p."merchant_id" = t."merchant_id" AND p."is_default";
UPDATE "card_tokens" t SET "profile_id" = p."id" FROM "profiles" p WHERE p."merchant_id" = t."merchant_id" AND p."is_default";
UPDATE "payments" t SET "profile_id" = p."id" FROM "profiles" p WHERE p."merchant_id" = t."merchant_id" AND p."is_default";

ALTER TABLE "customers" ALTER COLUMN "profile_id" SET NOT NULL;
ALTER TABLE "payment_methods" ALTER COLUMN "profile_id" SET NOT NULL;
ALTER TABLE "card_tokens" ALTER COLUMN "profile_id" SET NOT NULL;
ALTER TABLE "payments" ALTER COLUMN "profile_id" SET NOT NULL;

ALTER TABLE "customers" ADD CONSTRAINT "customers_merchant_id_profile_id_fkey"
  FOREIGN KEY ("merchant_id", "profile_id") REFERENCES "profiles"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "payment_methods" ADD CONSTRAINT "payment_methods_merchant_id_profile_id_fkey"
  FOREIGN KEY ("merchant_id", "profile_id") REFERENCES "profiles"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "card_tokens" ADD CONSTRAINT "card_tokens_merchant_id_profile_id_fkey"
  FOREIGN KEY ("merchant_id", "profile_id") REFERENCES "profiles"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "payments" ADD CONSTRAINT "payments_merchant_id_profile_id_fkey"
  FOREIGN KEY ("merchant_id", "profile_id") REFERENCES "profiles"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Duplicates are detected within a profile (a card without a customer is vaulted once per profile; a
-- customer's cards are in the customer's profile anyway). Still led by the merchant and the fingerprint, so a
-- lookup by id matches one column of it at most (migration 20261201000000).
CREATE UNIQUE INDEX "payment_methods_dedupe_key"
  ON "payment_methods"("merchant_id", "fingerprint", "mode", "profile_id", "customer_id") NULLS NOT DISTINCT;
DROP INDEX "payment_methods_merchant_id_fingerprint_mode_customer_id_key";

-- Listing customers newest first, of one profile or all: the profile is checked in the index too.
CREATE INDEX "customers_merchant_id_created_at_id_mode_profile_id_idx"
  ON "customers"("merchant_id", "created_at" DESC, "id" DESC, "mode", "profile_id");
DROP INDEX "customers_merchant_id_created_at_id_mode_idx";
