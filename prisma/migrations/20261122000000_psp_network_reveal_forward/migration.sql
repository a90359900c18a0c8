-- CreateEnum
CREATE TYPE "TokenizationType" AS ENUM ('SINGLE_USE', 'MULTI_USE');

-- CreateEnum
CREATE TYPE "TokenStatus" AS ENUM ('ACTIVE', 'INACTIVE');

-- CreateEnum
CREATE TYPE "NetworkTokenStatus" AS ENUM ('ACTIVE', 'SUSPENDED', 'DELETED');

-- CreateEnum
CREATE TYPE "PaymentInstrument" AS ENUM ('CARD', 'PSP_TOKEN', 'NETWORK_TOKEN');

-- AlterTable
ALTER TABLE "payments" ADD COLUMN "instrument" "PaymentInstrument" NOT NULL DEFAULT 'CARD';

-- CreateTable
CREATE TABLE "psp_tokens" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "mode" "Mode" NOT NULL,
    "payment_method_id" TEXT NOT NULL,
    "connector_id" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "tokenization_type" "TokenizationType" NOT NULL,
    "status" "TokenStatus" NOT NULL DEFAULT 'ACTIVE',
    "connector_token_request_reference_id" TEXT,
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "psp_tokens_pkey" PRIMARY KEY ("merchant_id","id")
);

-- CreateTable
CREATE TABLE "network_tokens" (
    "merchant_id" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "mode" "Mode" NOT NULL,
    "payment_method_id" TEXT NOT NULL,
    "tsp_id" TEXT NOT NULL,
    "token_reference_id" TEXT NOT NULL,
    "number" TEXT NOT NULL,
    "expiry" TEXT NOT NULL,
    "last4" TEXT NOT NULL,
    "status" "NetworkTokenStatus" NOT NULL,
    "last_event_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "network_tokens_pkey" PRIMARY KEY ("merchant_id","id")
);

-- CreateTable
CREATE TABLE "merchant_forward_hosts" (
    "merchant_id" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "merchant_forward_hosts_pkey" PRIMARY KEY ("merchant_id","host")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "merchant_id" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "id" TEXT NOT NULL,
    "mode" "Mode",
    "action" TEXT NOT NULL,
    "entity_type" TEXT NOT NULL,
    "entity_id" TEXT,
    "key_id" TEXT NOT NULL,
    "request_id" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "detail" JSONB,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("merchant_id","seq")
);

-- CreateIndex
CREATE INDEX "payments_id_idx" ON "payments"("id");

-- CreateIndex
CREATE INDEX "psp_tokens_merchant_id_payment_method_id_connector_id_statu_idx" ON "psp_tokens"("merchant_id", "payment_method_id", "connector_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "network_tokens_merchant_id_payment_method_id_key" ON "network_tokens"("merchant_id", "payment_method_id");

-- CreateIndex
CREATE INDEX "network_tokens_tsp_id_token_reference_id_idx" ON "network_tokens"("tsp_id", "token_reference_id");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_merchant_id_id_key" ON "audit_events"("merchant_id", "id");

-- CreateIndex
CREATE INDEX "audit_events_merchant_id_entity_id_seq_idx" ON "audit_events"("merchant_id", "entity_id", "seq");

-- AddForeignKey
ALTER TABLE "psp_tokens" ADD CONSTRAINT "psp_tokens_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "psp_tokens" ADD CONSTRAINT "psp_tokens_merchant_id_payment_method_id_fkey" FOREIGN KEY ("merchant_id", "payment_method_id") REFERENCES "payment_methods"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "network_tokens" ADD CONSTRAINT "network_tokens_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "network_tokens" ADD CONSTRAINT "network_tokens_merchant_id_payment_method_id_fkey" FOREIGN KEY ("merchant_id", "payment_method_id") REFERENCES "payment_methods"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "merchant_forward_hosts" ADD CONSTRAINT "merchant_forward_hosts_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Append-only audit trail (hand-added; Prisma cannot express triggers): UPDATE, DELETE and TRUNCATE are
-- refused. Someone able to drop the trigger can still edit rows; the per-merchant hash chain then shows it
-- (`npm run vault -- audit verify`).
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "audit_events_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_events"
  FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();

CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();
