-- Lifecycle events applied per network token, by the TSP's event id: a replayed delivery (same signed event,
-- within the signature window) is answered 200 without being applied or audited twice.
-- CreateTable
CREATE TABLE "network_token_events" (
    "merchant_id" TEXT NOT NULL,
    "network_token_id" TEXT NOT NULL,
    "tsp_id" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "network_token_events_pkey" PRIMARY KEY ("merchant_id","network_token_id","tsp_id","event_id")
);

-- CreateIndex
CREATE INDEX "network_token_events_expires_at_idx" ON "network_token_events"("expires_at");

-- AddForeignKey
ALTER TABLE "network_token_events" ADD CONSTRAINT "network_token_events_merchant_id_network_token_id_fkey" FOREIGN KEY ("merchant_id", "network_token_id") REFERENCES "network_tokens"("merchant_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;
