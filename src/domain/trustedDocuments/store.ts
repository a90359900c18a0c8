import type { App } from '../../app/app.js';

// The trusted-documents store: every statement on `trusted_documents`, once. The rules (ids, validation,
// registration) are in trustedDocuments.ts.

export interface TrustedDocumentRow {
  id: string;
  document: string;
  operationNames: string;
  label: string | null;
  createdAt: Date;
}

/** Inserts the documents not stored yet (insert-or-ignore on the id); returns how many were new. */
export async function insertDocuments(
  app: App,
  rows: ReadonlyArray<Pick<TrustedDocumentRow, 'id' | 'document' | 'operationNames' | 'label'>>,
): Promise<number> {
  if (rows.length === 0) return 0;
  const { count } = await app.db.prisma.trustedDocument.createMany({ data: [...rows], skipDuplicates: true });
  return count;
}

/** The text of the document with this id, or null. */
export async function findDocumentText(app: App, id: string): Promise<string | null> {
  const row = await app.db.prisma.trustedDocument.findUnique({ where: { id }, select: { document: true } });
  return row?.document ?? null;
}

/** Every stored document, oldest first. */
export function listDocuments(app: App): Promise<TrustedDocumentRow[]> {
  return app.db.prisma.trustedDocument.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
}

/** How many documents are stored. */
export function countDocuments(app: App): Promise<number> {
  return app.db.prisma.trustedDocument.count();
}

/** Deletes the documents with these ids, or with this label; returns the ids deleted. */
export async function deleteDocuments(app: App, which: { ids: string[] } | { label: string }): Promise<string[]> {
  const where = 'ids' in which ? { id: { in: which.ids } } : { label: which.label };
  return app.db.prisma.$transaction(async (tx) => {
    const rows = await tx.trustedDocument.findMany({ where, select: { id: true }, orderBy: { id: 'asc' } });
    await tx.trustedDocument.deleteMany({ where: { id: { in: rows.map((r) => r.id) } } });
    return rows.map((r) => r.id);
  });
}
