-- CreateEnum
CREATE TYPE "Mode" AS ENUM ('TEST', 'LIVE');

-- CreateEnum
CREATE TYPE "ApiKeyKind" AS ENUM ('SECRET', 'PUBLISHABLE');

-- CreateEnum
CREATE TYPE "DataKeyPurpose" AS ENUM ('ENCRYPTION', 'FINGERPRINT');

-- CreateEnum
CREATE TYPE "CardBrand" AS ENUM ('VISA', 'MASTERCARD', 'AMEX', 'DISCOVER', 'DINERS_CLUB', 'JCB', 'UNIONPAY', 'MAESTRO', 'MIR', 'ELO', 'HIPERCARD', 'UNKNOWN');

-- CreateEnum
CREATE TYPE "CardType" AS ENUM ('CREDIT', 'DEBIT', 'PREPAID');

-- CreateEnum
CREATE TYPE "PaymentMethodType" AS ENUM ('CARD');

-- CreateTable
CREATE TABLE "merchants" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "merchants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "kind" "ApiKeyKind" NOT NULL,
    "mode" "Mode" NOT NULL,
    "key_hash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "allow_reveal" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("merchant_id","id")
);

-- CreateTable
CREATE TABLE "data_keys" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "purpose" "DataKeyPurpose" NOT NULL,
    "master_key_id" TEXT NOT NULL,
    "wrapped_key" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "data_keys_pkey" PRIMARY KEY ("merchant_id","id")
);

-- CreateTable
CREATE TABLE "customers" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "mode" "Mode" NOT NULL,
    "merchant_reference_id" TEXT,
    "name" TEXT,
    "email" TEXT,
    "phone" TEXT,
    "phone_country_code" TEXT,
    "description" TEXT,
    "default_billing_address" TEXT,
    "default_shipping_address" TEXT,
    "metadata" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "customers_pkey" PRIMARY KEY ("merchant_id","id")
);

-- CreateTable
CREATE TABLE "payment_methods" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "mode" "Mode" NOT NULL,
    "customer_id" TEXT,
    "type" "PaymentMethodType" NOT NULL DEFAULT 'CARD',
    "fingerprint" TEXT NOT NULL,
    "card_number" TEXT NOT NULL,
    "card_expiry" TEXT NOT NULL,
    "holder_name" TEXT,
    "nick_name" TEXT,
    "bin" TEXT NOT NULL,
    "last4" TEXT NOT NULL,
    "brand" "CardBrand" NOT NULL,
    "issuer" TEXT,
    "issuing_country" TEXT,
    "card_type" "CardType",
    "billing" TEXT,
    "metadata" JSONB,
    "retention_extension_months" INTEGER NOT NULL DEFAULT 0,
    "retain_until" TIMESTAMPTZ(3) NOT NULL,
    "last_used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payment_methods_pkey" PRIMARY KEY ("merchant_id","id")
);

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_merchant_id_key_hash_key" ON "api_keys"("merchant_id", "key_hash");

-- CreateIndex
CREATE INDEX "api_keys_key_hash_idx" ON "api_keys"("key_hash");

-- CreateIndex
CREATE INDEX "data_keys_merchant_id_purpose_active_idx" ON "data_keys"("merchant_id", "purpose", "active");

-- CreateIndex
CREATE INDEX "customers_merchant_id_mode_created_at_id_idx" ON "customers"("merchant_id", "mode", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "payment_methods_merchant_id_customer_id_created_at_id_idx" ON "payment_methods"("merchant_id", "customer_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "payment_methods_retain_until_idx" ON "payment_methods"("retain_until");

-- CreateIndex
-- NULLS NOT DISTINCT (hand-added; Prisma cannot express it): a card tokenized without a customer is also
-- unique per merchant and mode, so concurrent duplicate tokenizations converge on one row.
CREATE UNIQUE INDEX "payment_methods_merchant_id_mode_customer_id_fingerprint_key" ON "payment_methods"("merchant_id", "mode", "customer_id", "fingerprint") NULLS NOT DISTINCT;

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "data_keys" ADD CONSTRAINT "data_keys_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "customers" ADD CONSTRAINT "customers_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payment_methods" ADD CONSTRAINT "payment_methods_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payment_methods" ADD CONSTRAINT "payment_methods_merchant_id_customer_id_fkey" FOREIGN KEY ("merchant_id", "customer_id") REFERENCES "customers"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;
