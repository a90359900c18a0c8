-- Merchant webhooks (issue 16): endpoints, the outbox of events (written in the transaction of the change),
-- one delivery job per (event, endpoint) and every attempt. Indexes lead with what the lookups name so plans
-- need no statistics (see 20261201000000_plans_without_statistics).

CREATE TABLE "webhook_endpoints" (
  "merchant_id" TEXT NOT NULL,
  "id" TEXT NOT NULL,
  "mode" "Mode" NOT NULL,
  "url" TEXT NOT NULL,
  "events" TEXT[],
  -- The whsec_ signing secret, sealed with the merchant's data key (AAD: merchant, model, field, row id).
  "secret" TEXT NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("merchant_id", "id"),
  CONSTRAINT "webhook_endpoints_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "webhook_endpoints_merchant_id_mode_idx" ON "webhook_endpoints"("merchant_id", "mode");

CREATE TABLE "webhook_events" (
  "merchant_id" TEXT NOT NULL,
  "id" TEXT NOT NULL,
  "mode" "Mode" NOT NULL,
  "type" TEXT NOT NULL,
  -- Masked views only.
  "payload" JSONB NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("merchant_id", "id"),
  CONSTRAINT "webhook_events_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE "webhook_deliveries" (
  "merchant_id" TEXT NOT NULL,
  "id" TEXT NOT NULL,
  "mode" "Mode" NOT NULL,
  "event_id" TEXT NOT NULL,
  "endpoint_id" TEXT NOT NULL,
  -- pending, succeeded, failed (gave up)
  "state" TEXT NOT NULL DEFAULT 'pending',
  "attempts" INTEGER NOT NULL DEFAULT 0,
  "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "locked_until" TIMESTAMPTZ(3),
  "last_status" INTEGER,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("merchant_id", "id"),
  CONSTRAINT "webhook_deliveries_event_fkey" FOREIGN KEY ("merchant_id", "event_id") REFERENCES "webhook_events"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "webhook_deliveries_endpoint_fkey" FOREIGN KEY ("merchant_id", "endpoint_id") REFERENCES "webhook_endpoints"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE
);
-- The dispatcher's claim: pending jobs by due time (state leads, so finished jobs are never scanned).
CREATE INDEX "webhook_deliveries_state_next_attempt_at_idx" ON "webhook_deliveries"("state", "next_attempt_at");
CREATE UNIQUE INDEX "webhook_deliveries_merchant_id_event_id_endpoint_id_key" ON "webhook_deliveries"("merchant_id", "event_id", "endpoint_id");
CREATE INDEX "webhook_deliveries_merchant_id_endpoint_id_idx" ON "webhook_deliveries"("merchant_id", "endpoint_id");

CREATE TABLE "webhook_attempts" (
  "merchant_id" TEXT NOT NULL,
  "id" TEXT NOT NULL,
  "delivery_id" TEXT NOT NULL,
  "attempt" INTEGER NOT NULL,
  "mode" "Mode" NOT NULL,
  "endpoint_id" TEXT NOT NULL,
  "event_id" TEXT NOT NULL,
  "event_type" TEXT NOT NULL,
  "status" INTEGER,
  "succeeded" BOOLEAN NOT NULL,
  "error" TEXT,
  "duration_ms" INTEGER NOT NULL,
  "at" TIMESTAMPTZ(3) NOT NULL,
  CONSTRAINT "webhook_attempts_pkey" PRIMARY KEY ("merchant_id", "id"),
  CONSTRAINT "webhook_attempts_delivery_fkey" FOREIGN KEY ("merchant_id", "delivery_id") REFERENCES "webhook_deliveries"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE
);
-- webhookDeliveries(endpointId): newest first by the endpoint.
CREATE INDEX "webhook_attempts_merchant_id_endpoint_id_at_id_idx" ON "webhook_attempts"("merchant_id", "endpoint_id", "at" DESC, "id" DESC);
CREATE UNIQUE INDEX "webhook_attempts_merchant_id_delivery_id_attempt_key" ON "webhook_attempts"("merchant_id", "delivery_id", "attempt");

-- payment_method.expiring fires once per card and expiry: the sweep records the notice here (a new expiry,
-- a new notice).
CREATE TABLE "webhook_expiring_notices" (
  "merchant_id" TEXT NOT NULL,
  "payment_method_id" TEXT NOT NULL,
  "expiry_end" TIMESTAMPTZ(3) NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "webhook_expiring_notices_pkey" PRIMARY KEY ("merchant_id", "payment_method_id", "expiry_end"),
  CONSTRAINT "webhook_expiring_notices_pm_fkey" FOREIGN KEY ("merchant_id", "payment_method_id") REFERENCES "payment_methods"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE
);
