-- Bank accounts as a second payment method type (issue 14): SEPA (IBAN), ACH (routing + account number) and
-- BACS (sort code + account number). They live in `payment_methods` beside cards, so listing, duplicates,
-- update, delete, retention and purge stay one code path. The card-only columns become nullable; CHECK
-- constraints keep each type's required columns required. No new index: lookups stay on the primary key
-- (merchant_id, id) and duplicates on the existing unique index (the fingerprint has its own domain for
-- bank accounts, so a card and an account never collide).
-- The new enum values are added but not used in this transaction (PostgreSQL refuses that before commit).

ALTER TYPE "PaymentMethodType" ADD VALUE 'BANK_ACCOUNT';
ALTER TYPE "PaymentInstrument" ADD VALUE 'BANK_ACCOUNT';

CREATE TYPE "BankScheme" AS ENUM ('SEPA', 'ACH', 'BACS');
CREATE TYPE "BankAccountType" AS ENUM ('CHECKING', 'SAVINGS');

ALTER TABLE "payment_methods"
  ALTER COLUMN "card_number" DROP NOT NULL,
  ALTER COLUMN "card_expiry" DROP NOT NULL,
  ALTER COLUMN "bin" DROP NOT NULL,
  ALTER COLUMN "brand" DROP NOT NULL,
  ADD COLUMN "account_number" TEXT,
  ADD COLUMN "bank_scheme" "BankScheme",
  ADD COLUMN "bank_code" TEXT,
  ADD COLUMN "bank_country" TEXT,
  ADD COLUMN "bic" TEXT,
  ADD COLUMN "account_type" "BankAccountType",
  ADD CONSTRAINT "payment_methods_card_check" CHECK (
    "type" <> 'CARD' OR ("card_number" IS NOT NULL AND "card_expiry" IS NOT NULL AND "bin" IS NOT NULL AND "brand" IS NOT NULL
      AND "account_number" IS NULL AND "bank_scheme" IS NULL)),
  ADD CONSTRAINT "payment_methods_bank_account_check" CHECK (
    "type" = 'CARD' OR ("account_number" IS NOT NULL AND "bank_scheme" IS NOT NULL AND "bank_country" IS NOT NULL
      AND "card_number" IS NULL AND "card_expiry" IS NULL));

-- A payment keeps the masked instrument it was made with: a card (bin, brand, expiry) or a bank account.
ALTER TABLE "payments"
  ALTER COLUMN "bin" DROP NOT NULL,
  ALTER COLUMN "brand" DROP NOT NULL,
  ALTER COLUMN "card_expiry" DROP NOT NULL,
  ADD COLUMN "bank_scheme" "BankScheme",
  ADD COLUMN "bank_code" TEXT,
  ADD COLUMN "bank_country" TEXT;
