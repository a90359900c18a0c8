-- Trusted documents (persisted operations): the GraphQL documents of the generated client, registered by
-- `vault documents push` after validation against the schema and the GraphQL limits, and called by id
-- (`{"documentId": "sha256:<hex>"}`). Server-wide, not a merchant's data: the documents are the API's own
-- client's operations, the same for every merchant (like `merchants`, no merchant_id). The id is the
-- SHA-256 of the document text, checked when registered; rows are never updated.
-- CreateTable
CREATE TABLE "trusted_documents" (
    "id" TEXT NOT NULL,
    "document" TEXT NOT NULL,
    "operation_names" TEXT NOT NULL,
    "label" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "trusted_documents_pkey" PRIMARY KEY ("id")
);
