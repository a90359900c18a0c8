-- CreateEnum
CREATE TYPE "PaymentStatus" AS ENUM ('COMPLETED', 'AUTHORIZED', 'REQUIRES_ACTION', 'FAILED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "CaptureMethod" AS ENUM ('AUTOMATIC', 'MANUAL');

-- CreateEnum
CREATE TYPE "PaymentInitiator" AS ENUM ('CUSTOMER', 'MERCHANT');

-- CreateEnum
CREATE TYPE "IdempotencyStatus" AS ENUM ('IN_PROGRESS', 'COMPLETED');

-- AlterTable
ALTER TABLE "payment_methods" ADD COLUMN "cit_completed_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "card_tokens" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "mode" "Mode" NOT NULL,
    "card_number" TEXT,
    "card_expiry" TEXT NOT NULL,
    "holder_name" TEXT,
    "nick_name" TEXT,
    "cvc" TEXT,
    "billing" TEXT,
    "bin" TEXT NOT NULL,
    "last4" TEXT NOT NULL,
    "brand" "CardBrand" NOT NULL,
    "issuer" TEXT,
    "issuing_country" TEXT,
    "card_type" "CardType",
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "card_tokens_pkey" PRIMARY KEY ("merchant_id","id")
);

-- CreateTable
CREATE TABLE "payments" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "mode" "Mode" NOT NULL,
    "customer_id" TEXT,
    "amount" INTEGER NOT NULL,
    "amount_captured" INTEGER NOT NULL DEFAULT 0,
    "currency" TEXT NOT NULL,
    "status" "PaymentStatus" NOT NULL,
    "capture_method" "CaptureMethod" NOT NULL,
    "initiator" "PaymentInitiator" NOT NULL,
    "payment_method_id" TEXT,
    "saved_payment_method_id" TEXT,
    "card_token_id" TEXT,
    "save_payment_method" BOOLEAN NOT NULL DEFAULT false,
    "bin" TEXT NOT NULL,
    "last4" TEXT NOT NULL,
    "brand" "CardBrand" NOT NULL,
    "card_expiry" TEXT NOT NULL,
    "holder_name" TEXT,
    "pending_card" TEXT,
    "connector_id" TEXT NOT NULL,
    "connector_reference" TEXT,
    "redirect_url" TEXT,
    "return_url" TEXT,
    "challenge_secret_hash" TEXT,
    "failure_code" TEXT,
    "failure_message" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payments_pkey" PRIMARY KEY ("merchant_id","id")
);

-- CreateTable
CREATE TABLE "idempotency_keys" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "status" "IdempotencyStatus" NOT NULL,
    "response" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("merchant_id","id")
);

-- CreateTable
CREATE TABLE "merchant_origins" (
    "merchant_id" TEXT NOT NULL,
    "origin" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "merchant_origins_pkey" PRIMARY KEY ("merchant_id","origin")
);

-- CreateIndex
CREATE INDEX "card_tokens_expires_at_idx" ON "card_tokens"("expires_at");

-- CreateIndex
CREATE INDEX "payments_merchant_id_payment_method_id_idx" ON "payments"("merchant_id", "payment_method_id");

-- CreateIndex
CREATE INDEX "idempotency_keys_expires_at_idx" ON "idempotency_keys"("expires_at");

-- CreateIndex
CREATE INDEX "merchant_origins_origin_idx" ON "merchant_origins"("origin");

-- AddForeignKey
ALTER TABLE "card_tokens" ADD CONSTRAINT "card_tokens_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payments" ADD CONSTRAINT "payments_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "merchant_origins" ADD CONSTRAINT "merchant_origins_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
