import type { App } from '../../app/app.js';
import type { Tenant } from '../shared/principal.js';

// Every statement of imports and exports: the per-file import record (counts only) and the export's cursor.

/** The last data row of this file whose batch committed (0: none), creating the record on first sight. */
export async function startImportRecord(app: App, t: Tenant, fileHash: string): Promise<{ rowsDone: number; finished: boolean }> {
  const row = await app.db.prisma.cardImport.upsert({
    where: { merchantId_mode_fileHash: { merchantId: t.merchantId, mode: t.mode, fileHash } },
    create: { merchantId: t.merchantId, mode: t.mode, fileHash },
    update: {},
  });
  return { rowsDone: row.rowsDone, finished: row.finishedAt !== null };
}

export async function recordImportProgress(app: App, t: Tenant, fileHash: string, rowsDone: number, finished = false): Promise<void> {
  await app.db.prisma.cardImport.update({
    where: { merchantId_mode_fileHash: { merchantId: t.merchantId, mode: t.mode, fileHash } },
    data: { rowsDone, ...(finished && { finishedAt: app.clock() }) },
  });
}

/** One page of the tenant's payment methods after `afterId`, by id, with the sealed card and the customer's reference. */
export function exportPage(app: App, t: Tenant, afterId: string | null, take: number) {
  return app.db.prisma.paymentMethod.findMany({
    where: { merchantId: t.merchantId, mode: t.mode, ...(afterId !== null && { id: { gt: afterId } }) },
    orderBy: { id: 'asc' },
    take,
    select: {
      merchantId: true,
      id: true,
      cardNumber: true,
      cardExpiry: true,
      holderName: true,
      customer: { select: { merchantReferenceId: true } },
    },
  });
}
