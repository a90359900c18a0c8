import { defaultProfileOf } from '../merchants/profiles.js';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import type { App } from '../../app/app.js';
import { actorOf, appendAudit } from '../audit/audit.js';
import { customersForReferences } from '../customers/customers.js';
import { tokenizeCard } from './paymentMethods.js';
import { ValidationFailed, VaultError } from '../shared/errors.js';
import type { Principal, Tenant } from '../shared/principal.js';
import { decryptedStream, FileUnreadable, fileKind, readPrivateKey, verifyEncrypted } from '../../crypto/openpgp.js';
import { recordImportProgress, startImportRecord } from './store.js';

// Import: a merchant's cards from another vault or PSP, as CSV or JSONL (optionally OpenPGP-encrypted),
// each row tokenized by the same `tokenizeCard` the API runs. Streamed: rows are read, tokenized and
// reported batch by batch; memory does not grow with the file. Resumable: after each batch the report lines
// are written and then the file's import record (by the SHA-256 of its bytes) says which row committed last;
// a rerun skips those rows, and rows of a batch that did not commit converge on the cards they stored
// (duplicates by fingerprint, customers by reference).

export interface ImportOptions {
  merchantId: string;
  mode: Principal['mode'];
  file: string;
  /** An OpenPGP private key file, for an encrypted file. */
  decryptKey?: string;
  decryptPassphrase?: string;
  batchSize?: number;
  concurrency?: number;
  onProgress?: (rowsRead: number) => void;
}

export interface ImportResult {
  rows: number;
  created: number;
  duplicates: number;
  failed: number;
  /** Rows an earlier run committed, skipped now. */
  skipped: number;
  report: string;
  fileHash: string;
}

/** A report line: never card data. */
type ReportLine = { row: number; id: string; duplicate?: true } | { row: number; error: string; field?: string };

// `id`: the source's id of the card (an export of this vault has it), accepted and not used.
const COLUMNS = ['card_number', 'exp_month', 'exp_year', 'holder_name', 'customer_reference', 'metadata', 'id'] as const;

/** Where a validation path points, as the file's column. */
const FIELD_COLUMN: Record<string, string> = {
  number: 'card_number',
  expMonth: 'exp_month',
  expYear: 'exp_year',
  holderName: 'holder_name',
  metadata: 'metadata',
  merchantReferenceId: 'customer_reference',
};

class RowError extends Error {
  constructor(
    readonly code: string,
    readonly field?: string,
  ) {
    super(code);
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The rows of the plaintext, as objects keyed by column, CSV or JSONL (told apart by the first character). */
async function* rowsOf(plain: Readable): AsyncGenerator<Record<string, unknown> | RowError> {
  const it = plain[Symbol.asyncIterator]();
  let first: Buffer = Buffer.alloc(0);
  // Enough of the start to see the format.
  while (first.toString('utf8').trim() === '') {
    const next = await it.next();
    if (next.done) return;
    first = Buffer.concat([first, Buffer.from(next.value as Buffer)]);
  }
  const rest = async function* () {
    yield first;
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      yield next.value as Buffer;
    }
  };
  const text = first
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (text.startsWith('{')) {
    const lines = createInterface({ input: Readable.from(rest()), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      try {
        const value: unknown = JSON.parse(line);
        yield value !== null && typeof value === 'object' && !Array.isArray(value)
          ? (value as Record<string, unknown>)
          : new RowError('INVALID_INPUT');
      } catch {
        yield new RowError('INVALID_INPUT');
      }
    }
    return;
  }
  const csv = Readable.from(rest()).pipe(
    parseCsv({
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
    }),
  );
  for await (const record of csv) yield record as Record<string, unknown>;
}

const blank = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
const integer = (v: unknown) => (typeof v === 'string' && /^\s*\d{1,4}\s*$/.test(v) ? Number(v) : v);

/** The row as tokenizeCard's input (the card fields as given: tokenizeCard validates them) and the customer's reference. */
function inputOf(row: Record<string, unknown>): { input: Record<string, unknown>; reference?: string } {
  const unknownColumn = Object.keys(row).find((k) => !(COLUMNS as readonly string[]).includes(k) && !blank(row[k]));
  if (unknownColumn) throw new RowError('INVALID_INPUT', unknownColumn.slice(0, 40).replace(/[^a-z0-9_]/gi, '_'));
  let metadata: unknown;
  if (!blank(row.metadata)) {
    metadata = row.metadata;
    if (typeof metadata === 'string') {
      try {
        metadata = JSON.parse(metadata);
      } catch {
        throw new RowError('INVALID_INPUT', 'metadata');
      }
    }
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw new RowError('INVALID_INPUT', 'metadata');
  }
  const reference = row.customer_reference;
  if (!blank(reference) && typeof reference !== 'string') throw new RowError('INVALID_INPUT', 'customer_reference');
  return {
    input: {
      card: {
        number: typeof row.card_number === 'string' ? row.card_number.trim() : row.card_number,
        expMonth: integer(row.exp_month),
        expYear: integer(row.exp_year),
        ...(!blank(row.holder_name) && { holderName: row.holder_name }),
      },
      ...(metadata !== undefined && { metadata }),
    },
    reference: blank(reference) ? undefined : (reference as string).trim(),
  };
}

function errorLine(row: number, err: unknown): ReportLine {
  if (err instanceof RowError) return { row, error: err.code, ...(err.field && { field: err.field }) };
  if (err instanceof ValidationFailed) {
    const first = err.fields[0];
    const key = first?.path.filter((p) => p !== 'input' && p !== 'card').at(0);
    const field = key === undefined ? undefined : (FIELD_COLUMN[key] ?? key);
    return { row, error: err.code, ...(field && { field }) };
  }
  if (err instanceof VaultError) return { row, error: err.code };
  throw err; // not the row's fault (the database, a bug): the import stops and a rerun resumes
}

/** Keeps the report's lines of rows up to `upTo` (what committed), dropping any written after. */
async function truncateReport(report: string, upTo: number): Promise<void> {
  if (!existsSync(report)) return;
  const tmp = `${report}.tmp`;
  const out = createWriteStream(tmp);
  const lines = createInterface({ input: createReadStream(report), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (!line) continue;
    const { row } = JSON.parse(line) as { row: number };
    if (row <= upTo && !out.write(`${line}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  await rename(tmp, report);
}

async function mapConcurrent<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/**
 * Imports the file's cards into the merchant's mode and writes `<file>.report.jsonl`. Throws FileUnreadable
 * when the file cannot be read to its end (a wrong key, a corrupt file); rows that fail are reported, not thrown.
 */
export async function importCards(app: App, opts: ImportOptions): Promise<ImportResult> {
  const { merchantId, mode, file } = opts;
  const batchSize = opts.batchSize ?? 250;
  const concurrency = opts.concurrency ?? 16;
  // The merchant's default profile, where the operator acts; NotFound for an unknown merchant.
  const profileId = await defaultProfileOf(app, merchantId);
  if (!existsSync(file)) throw new FileUnreadable(`cannot read ${file}`);
  const tenant: Tenant = { merchantId, mode };
  const fileHash = await sha256File(file).catch((err: Error) => {
    throw new FileUnreadable(`cannot read ${file}: ${err.message}`);
  });
  const principal: Principal = {
    merchantId,
    mode,
    keyId: 'system:import',
    kind: 'SECRET',
    allowReveal: false,
    requestId: `import-${fileHash.slice(0, 16)}`,
    // Imported cards and customers go in the merchant's default profile.
    profileId,
  };

  const kind = await fileKind(file);
  let open: () => Promise<Readable>;
  if (kind === 'plain') {
    open = async () => createReadStream(file);
  } else {
    if (!opts.decryptKey) throw new FileUnreadable('the file is OpenPGP-encrypted: give --decrypt-key');
    const key = await readPrivateKey(opts.decryptKey, opts.decryptPassphrase);
    // Nothing is stored from a file that does not decrypt whole and intact.
    await verifyEncrypted(file, kind, key);
    open = () => decryptedStream(file, kind, key);
  }

  const { rowsDone } = await startImportRecord(app, tenant, fileHash);
  const report = `${file}.report.jsonl`;
  await truncateReport(report, rowsDone);
  const out = createWriteStream(report, { flags: 'a' });
  const result: ImportResult = { rows: 0, created: 0, duplicates: 0, failed: 0, skipped: 0, report, fileHash };
  // Customers by reference, within this run (bounded: cleared when large).
  const customers = new Map<string, string>();

  const tokenizeRow = async ({ row, record }: { row: number; record: Record<string, unknown> | RowError }): Promise<ReportLine> => {
    try {
      if (record instanceof RowError) throw record;
      const { input, reference } = inputOf(record);
      const customerId = reference === undefined ? undefined : customers.get(reference);
      const saved = await tokenizeCard(app, principal, { ...input, ...(customerId && { customerId }) }, app.clock(), { operator: true });
      return { row, id: saved.paymentMethod.id, ...(saved.duplicate && { duplicate: true as const }) };
    } catch (err) {
      return errorLine(row, err);
    }
  };

  const flush = async (batch: { row: number; record: Record<string, unknown> | RowError }[]) => {
    // References first, each once (two rows of one new customer make one customer), new ones created together.
    if (customers.size > 10_000) customers.clear();
    const failedRefs = new Map<number, ReportLine>();
    const firstRowOf = new Map<string, number>();
    for (const item of batch) {
      if (item.record instanceof RowError) continue;
      const ref = item.record.customer_reference;
      if (blank(ref) || typeof ref !== 'string' || customers.has(ref.trim()) || firstRowOf.has(ref.trim())) continue;
      firstRowOf.set(ref.trim(), item.row);
    }
    const refFailures = new Map<string, unknown>();
    for (const [ref, found] of await customersForReferences(app, principal, [...firstRowOf.keys()])) {
      if (typeof found === 'string') customers.set(ref, found);
      else refFailures.set(ref, found);
    }
    for (const item of batch) {
      const ref = item.record instanceof RowError ? undefined : item.record.customer_reference;
      if (typeof ref !== 'string' || !refFailures.has(ref.trim())) continue;
      const line = errorLine(item.row, refFailures.get(ref.trim()));
      failedRefs.set(item.row, 'error' in line ? { ...line, field: 'customer_reference' } : line);
    }
    // Rows of one card number run one after another in file order (the later row is the duplicate and its
    // expiry and holder name win, as with calls one at a time); different numbers run concurrently.
    const lanes = new Map<string, typeof batch>();
    for (const item of batch) {
      const n = item.record instanceof RowError ? undefined : item.record.card_number;
      const key = typeof n === 'string' ? n.replace(/\D/g, '') : `row ${item.row}`;
      lanes.set(key, [...(lanes.get(key) ?? []), item]);
    }
    const byRow = new Map<number, ReportLine>();
    await mapConcurrent([...lanes.values()], concurrency, async (lane) => {
      for (const item of lane) byRow.set(item.row, failedRefs.get(item.row) ?? (await tokenizeRow(item)));
    });
    const lines = batch.map((item) => byRow.get(item.row)!);
    let text = '';
    for (const line of lines) {
      text += `${JSON.stringify(line)}\n`;
      if ('error' in line) result.failed++;
      else if (line.duplicate) result.duplicates++;
      else result.created++;
    }
    await new Promise<void>((resolve, reject) => out.write(text, (err) => (err ? reject(err) : resolve())));
    const last = batch.at(-1)!.row;
    await recordImportProgress(app, tenant, fileHash, last);
    opts.onProgress?.(last);
  };

  let row = 0;
  try {
    let batch: { row: number; record: Record<string, unknown> | RowError }[] = [];
    const plain = await open();
    try {
      for await (const record of rowsOf(plain)) {
        row++;
        if (row <= rowsDone) {
          result.skipped++;
          if (row % 1000 === 0) opts.onProgress?.(row);
          continue;
        }
        batch.push({ row, record });
        if (batch.length >= batchSize) {
          await flush(batch);
          batch = [];
        }
      }
    } catch (err) {
      if (err instanceof FileUnreadable) throw err;
      if (err instanceof Error && 'code' in err && String((err as { code: unknown }).code).startsWith('CSV_')) {
        throw new FileUnreadable(`the file is not valid CSV at data row ${row + 1}: ${String((err as { code: unknown }).code)}`);
      }
      throw err;
    }
    if (batch.length > 0) await flush(batch);
  } finally {
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  result.rows = row;
  await recordImportProgress(app, tenant, fileHash, row, true);
  await appendAudit(app.db.prisma, actorOf(principal), {
    action: 'payment_method.import',
    entityType: 'import',
    entityId: fileHash,
    outcome: 'success',
    detail: { rows: row, created: result.created, duplicates: result.duplicates, failed: result.failed, skipped: result.skipped },
  });
  return result;
}
