import type { App } from '../../app/app.js';
import { listMerchantIds } from './store.js';
import { envelopePrefix } from '../../crypto/aead.js';
import { generateDataKey, rewrapDataKey, wrapDataKey } from '../../crypto/dataKeys.js';
import { openPlaintext } from '../../db/encryption.js';
import { ENCRYPTED_FIELDS } from '../../db/encrypted-fields.js';
import { Prisma as P } from '../../generated/prisma/client.js';
import { newId } from '../shared/ids.js';
import { audited, operatorActor } from '../audit/audit.js';

/**
 * Re-wraps every data key that is not yet under the active master key. Data keys themselves do not change,
 * so rows stay readable and running servers (which cache unwrapped keys) keep serving throughout; each row
 * is updated only if still wrapped as it was read, so two concurrent runs cannot clobber each other.
 * Operators add the new master key first in VAULT_MASTER_KEYS of every process, run this, and retire the
 * old key only after it reports nothing left.
 */
export async function rewrapDataKeys(
  app: App,
  onProgress?: (done: number, total: number) => void,
): Promise<{ rewrapped: number; total: number }> {
  const { prisma, keyring } = app.db;
  const active = keyring.master.active.id;
  const stale = await prisma.dataKey.findMany({ where: { masterKeyId: { not: active } } });
  let rewrapped = 0;
  for (const row of stale) {
    const wrapped = rewrapDataKey(keyring.master, { merchantId: row.merchantId, dataKeyId: row.id, purpose: row.purpose }, row);
    const count = await audited(
      app,
      operatorActor(row.merchantId),
      async (tx) =>
        (
          await tx.dataKey.updateMany({
            where: { merchantId: row.merchantId, id: row.id, masterKeyId: row.masterKeyId, wrappedKey: row.wrappedKey },
            data: wrapped,
          })
        ).count,
      (n) =>
        n
          ? [
              {
                action: 'data_key.rewrap',
                entityType: 'data_key',
                entityId: row.id,
                outcome: 'success',
                detail: { from: row.masterKeyId, to: active },
              },
            ]
          : [],
    );
    rewrapped += count;
    onProgress?.(rewrapped, stale.length);
  }
  return { rewrapped, total: await prisma.dataKey.count() };
}

// ---------------------------------------------------------------------------------------------------------
// Data-key rotation: a merchant gets a new encryption key, the old one is retired (it decrypts, it never
// encrypts again), and every sealed value under a retired key is re-encrypted under the new one, row by
// row, in batches, while servers keep serving. Each row is rewritten only if it still holds what was read
// (a conditional update), so a concurrent change is never overwritten: the next pass picks the row up
// again. The work left is "rows with a value under a retired key", so an interrupted run resumes by
// running it again. Fingerprint keys are not rotated: equal cards must keep equal fingerprints.

export interface DataKeyRotationOptions {
  /** Default: every merchant. */
  merchantId?: string;
  batchSize?: number;
  /** Stop after this many rows (an interruption on purpose); the rest is left for the next run. */
  limit?: number;
  /** Checked between rows: true stops the run (SIGINT). */
  stopped?: () => boolean;
  /** Called once with the total, then after each row. */
  onProgress?: (done: number, total: number) => void;
  /** How long servers may keep encrypting under the old key (their key cache); default: the keyring's TTL. */
  settleMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface DataKeyRotationResult {
  merchants: number;
  /** New encryption keys created by this run (0 when it resumed an interrupted rotation). */
  rotated: number;
  reencrypted: number;
  /** Rows still under a retired key (0 unless interrupted). */
  remaining: number;
}

type SealedModel = keyof typeof ENCRYPTED_FIELDS;
type Row = { merchantId: string; id: string } & Record<string, string | null>;

interface ModelDelegate {
  count(args: { where: object }): Promise<number>;
  findMany(args: { where: object; take: number; select: Record<string, true>; orderBy: object }): Promise<Row[]>;
  update(args: { where: object; data: Record<string, string> }): Promise<unknown>;
}

function delegate(tx: unknown, model: SealedModel): ModelDelegate {
  return (tx as Record<string, ModelDelegate>)[model.charAt(0).toLowerCase() + model.slice(1)]!;
}

/** Rows of the model with any sealed value under one of the retired keys. */
function underRetired(model: SealedModel, merchantId: string, retired: readonly string[]) {
  const fields = ENCRYPTED_FIELDS[model] as readonly string[];
  return { merchantId, OR: fields.flatMap((f) => retired.map((keyId) => ({ [f]: { startsWith: envelopePrefix(keyId) } }))) };
}

async function retiredKeys(app: App, merchantId: string): Promise<string[]> {
  const rows = await app.db.prisma.dataKey.findMany({ where: { merchantId, purpose: 'ENCRYPTION', active: false }, select: { id: true } });
  return rows.map((r) => r.id);
}

async function remainingRows(app: App, merchantId: string, retired: readonly string[]): Promise<number> {
  if (retired.length === 0) return 0;
  const counts = await Promise.all(
    (Object.keys(ENCRYPTED_FIELDS) as SealedModel[]).map((m) =>
      delegate(app.db.prisma, m).count({ where: underRetired(m, merchantId, retired) }),
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** A new active encryption key for the merchant and the old one retired, audited, in one transaction. */
async function switchEncryptionKey(app: App, merchantId: string): Promise<void> {
  const { keyring } = app.db;
  const id = newId('dk');
  await audited(
    app,
    operatorActor(merchantId),
    async (tx) => {
      await tx.dataKey.updateMany({ where: { merchantId, purpose: 'ENCRYPTION', active: true }, data: { active: false } });
      await tx.dataKey.create({
        data: {
          merchantId,
          id,
          purpose: 'ENCRYPTION',
          ...wrapDataKey(keyring.master, { merchantId, dataKeyId: id, purpose: 'ENCRYPTION' }, generateDataKey()),
        },
      });
    },
    () => ({ action: 'data_key.rotate', entityType: 'data_key', entityId: id, outcome: 'success' }),
  );
  keyring.invalidate(merchantId);
}

/** Re-encrypts one row's values under retired keys with the active key, if the row is unchanged. */
async function reencryptRow(app: App, model: SealedModel, row: Row, retired: readonly string[]): Promise<boolean> {
  const { prisma, keyring } = app.db;
  const stale = (ENCRYPTED_FIELDS[model] as readonly string[]).filter((f) => {
    const v = row[f];
    return typeof v === 'string' && retired.some((k) => v.startsWith(envelopePrefix(k)));
  });
  if (stale.length === 0) return false;
  const data: Record<string, string> = {};
  // The plaintext as it was sealed, byte for byte: no codec round trip.
  for (const f of stale) data[f] = (await openPlaintext(keyring, model as 'Customer', f as 'name', row))!;
  try {
    await delegate(prisma, model).update({
      where: { merchantId_id: { merchantId: row.merchantId, id: row.id }, ...Object.fromEntries(stale.map((f) => [f, row[f]])) },
      data,
    });
    return true;
  } catch (e) {
    // Changed or deleted meanwhile: its new value is under the active key already, or a later pass sees it.
    if (e instanceof P.PrismaClientKnownRequestError && e.code === 'P2025') return false;
    throw e;
  }
}

type Plan = { merchantId: string; retired: string[] };

/** One pass over every row under a retired key, batch by batch; rows that changed under us wait for the next. */
async function reencryptPass(app: App, plans: readonly Plan[], batchSize: number, halted: () => boolean, onRow: () => void): Promise<void> {
  const { prisma } = app.db;
  for (const { merchantId, retired } of plans) {
    for (const model of Object.keys(ENCRYPTED_FIELDS) as SealedModel[]) {
      const fields = ENCRYPTED_FIELDS[model] as readonly string[];
      // Keyset pagination on the primary key: each batch starts where the last one ended.
      let after = '';
      for (;;) {
        if (halted()) return;
        const rows = await delegate(prisma, model).findMany({
          where: { ...underRetired(model, merchantId, retired), id: { gt: after } },
          take: batchSize,
          orderBy: { id: 'asc' },
          select: { merchantId: true, id: true, ...Object.fromEntries(fields.map((f) => [f, true])) },
        });
        for (const row of rows) {
          if (halted()) return;
          if (await reencryptRow(app, model, row, retired)) onRow();
        }
        if (rows.length < batchSize) break;
        after = rows[rows.length - 1]!.id;
      }
    }
  }
}

export async function rotateDataKeys(app: App, options: DataKeyRotationOptions = {}): Promise<DataKeyRotationResult> {
  const { keyring } = app.db;
  const batchSize = options.batchSize ?? 200;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const merchants = options.merchantId ? [options.merchantId] : await listMerchantIds(app);

  // Resume what an interrupted run left; otherwise rotate.
  let rotated = 0;
  const plans: Plan[] = [];
  for (const merchantId of merchants) {
    if ((await remainingRows(app, merchantId, await retiredKeys(app, merchantId))) === 0) {
      await switchEncryptionKey(app, merchantId);
      rotated++;
    }
    plans.push({ merchantId, retired: await retiredKeys(app, merchantId) });
  }
  // Servers encrypt under the old key until their key cache expires; rows they write meanwhile are swept
  // by the last pass, which starts once that time has passed.
  const settleAt = Date.now() + (rotated > 0 ? (options.settleMs ?? keyring.ttlMs) : 0);

  let total = 0;
  for (const p of plans) total += await remainingRows(app, p.merchantId, p.retired);
  let done = 0;
  options.onProgress?.(done, total);
  const halted = () => options.stopped?.() === true || (options.limit !== undefined && done >= options.limit);
  const onRow = () => {
    done++;
    total = Math.max(total, done);
    options.onProgress?.(done, total);
  };

  await reencryptPass(app, plans, batchSize, halted, onRow);
  if (!halted()) {
    if (Date.now() < settleAt) await sleep(settleAt - Date.now());
    await reencryptPass(app, plans, batchSize, halted, onRow);
  }
  let remaining = 0;
  for (const p of plans) remaining += await remainingRows(app, p.merchantId, p.retired);
  return { merchants: merchants.length, rotated, reencrypted: done, remaining };
}
