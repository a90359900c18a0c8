import { defaultProfileOf } from '../../src/domain/merchants/profiles.js';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/app.js';
import { migrate } from '../../src/db/migrate.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { importCards } from '../../src/domain/paymentMethods/importCards.js';
import { findPaymentMethod, maskedCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import { FileUnreadable } from '../../src/crypto/openpgp.js';
import { createTestApp, createTestDatabase, querySql, type TestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { dumpDatabase, leakLines, panLike, panLikeInDump } from '../helpers/scan.js';
import { randomCardNumber } from '../helpers/cards.js';
import { principalOf } from '../helpers/vault.js';

// Moving cards in and out (`vault import`, `vault export`): the CLI as operators run it, against a database
// of its own; files in a temporary directory.

let database: TestDatabase;
let app: App;
let dir: string;
let keys: { publicKey: string; privateKey: string };
let merchantA: string;
let merchantB: string;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: database.url, VAULT_MASTER_KEYS: TEST_MASTER_KEYS, LOG_LEVEL: 'info' },
    encoding: 'utf8',
    timeout: 90_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const reportOf = (file: string) =>
  readFileSync(`${file}.report.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { row: number; id?: string; error?: string; field?: string; duplicate?: boolean });

const countPms = async (merchantId: string) =>
  Number(
    (await querySql<{ n: string }>(database.url, 'SELECT count(*) AS n FROM payment_methods WHERE merchant_id = $1', [merchantId]))[0]!.n,
  );

const VISA = randomCardNumber('424242');
const MC = randomCardNumber('555555');
const AMEX = randomCardNumber('378282', 15);

beforeAll(async () => {
  database = await createTestDatabase();
  await migrate(database.url);
  app = await createTestApp(database.url);
  merchantA = (await createMerchant(app, { name: 'A' })).merchantId;
  merchantB = (await createMerchant(app, { name: 'B' })).merchantId;
  dir = mkdtempSync(path.join(tmpdir(), 'vault-import-'));
  const generated = await openpgp.generateKey({ userIDs: [{ name: 'Next PSP', email: 'migrations@psp.example' }], format: 'armored' });
  keys = { publicKey: generated.publicKey, privateKey: generated.privateKey };
  writeFileSync(path.join(dir, 'public.asc'), keys.publicKey);
  writeFileSync(path.join(dir, 'private.asc'), keys.privateKey);
});
afterAll(async () => {
  await app?.stop();
  await database?.drop();
});

const CSV = [
  'card_number,exp_month,exp_year,holder_name,customer_reference,metadata',
  `${VISA},12,${EXP_YEAR},Ada Lovelace,cust-1,"{""plan"":""gold""}"`,
  `4242424242424241,12,${EXP_YEAR},Bad Luhn,cust-1,`,
  `${MC},1,2001,Expired,,`,
  `${VISA},11,${EXP_YEAR},Ada Again,cust-1,`,
  `${AMEX},3,${EXP_YEAR},,cust-1,not json`,
  `${AMEX},3,${EXP_YEAR},,cust-1,`,
  `${MC},13,${EXP_YEAR},,,`,
].join('\n');

describe('vault import', { timeout: 120_000 }, () => {
  it('imports a CSV file: each row tokenized or reported with its code, never card data; one customer per reference', async () => {
    const file = path.join(dir, 'cards.csv');
    writeFileSync(file, CSV);
    const r = cli(['import', '--merchant', merchantA, '--mode', 'test', '--file', file, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ rows: 7, created: 2, duplicates: 1, failed: 4 });
    const report = reportOf(file);
    expect(report.map((l) => l.row)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(report[0]!.id).toMatch(/^pm_/);
    expect(report[1]).toEqual({ row: 2, error: 'INVALID_CARD_NUMBER', field: 'card_number' });
    expect(report[2]).toMatchObject({ row: 3, error: 'CARD_EXPIRED' });
    expect(report[3]).toEqual({ row: 4, id: report[0]!.id, duplicate: true });
    // The later row of a card is the duplicate, and its expiry and holder name are kept (as one call after another).
    const principal = principalOf({ merchantId: merchantA, defaultProfileId: await defaultProfileOf(app, merchantA) }, { keyId: 'test' });
    const ada = (await findPaymentMethod(app, principal, report[0]!.id!))!;
    const view = await maskedCard(app, ada);
    expect(view.expMonth).toBe(11);
    expect(await view.holderName()).toBe('Ada Again');
    expect(report[4]).toEqual({ row: 5, error: 'INVALID_INPUT', field: 'metadata' });
    expect(report[5]!.id).toMatch(/^pm_/);
    expect(report[6]).toMatchObject({ row: 7, error: 'INVALID_EXPIRY', field: 'exp_month' });
    const text = readFileSync(`${file}.report.jsonl`, 'utf8') + r.stdout + r.stderr;
    expect(panLike(text), leakLines(text).join('\n')).toEqual([]);
    // One customer for cust-1, holding both cards; the duplicate took the later expiry (as tokenizeCard does).
    const customers = await querySql<{ id: string }>(
      database.url,
      "SELECT id FROM customers WHERE merchant_id = $1 AND merchant_reference_id = 'cust-1'",
      [merchantA],
    );
    expect(customers).toHaveLength(1);
    const pms = await querySql<{ customer_id: string; last4: string; metadata: unknown }>(
      database.url,
      'SELECT customer_id, last4, metadata FROM payment_methods WHERE merchant_id = $1 ORDER BY last4',
      [merchantA],
    );
    expect(pms.map((p) => p.customer_id)).toEqual([customers[0]!.id, customers[0]!.id]);
    expect(await countPms(merchantB)).toBe(0);
    // Audited: one event for the run, one per stored card (as tokenizeCard does).
    const audit = await querySql<{ action: string }>(
      database.url,
      "SELECT action FROM audit_events WHERE merchant_id = $1 AND key_id = 'system:import'",
      [merchantA],
    );
    expect(audit.filter((a) => a.action === 'payment_method.import')).toHaveLength(1);
    expect(
      audit.filter((a) => a.action.startsWith('payment_method.create') || a.action.startsWith('payment_method.tokenize')).length,
    ).toBeGreaterThanOrEqual(2);

    // A rerun of the finished file creates nothing and reports the same.
    const before = readFileSync(`${file}.report.jsonl`, 'utf8');
    const again = cli(['import', '--merchant', merchantA, '--mode', 'test', '--file', file, '--json']);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ rows: 7, created: 0, skipped: 7 });
    expect(readFileSync(`${file}.report.jsonl`, 'utf8')).toBe(before);
    expect(await countPms(merchantA)).toBe(2);
  });

  it('imports JSONL, armoured and binary OpenPGP; a wrong key or a corrupt file exits non-zero and stores nothing', async () => {
    const jsonl = [
      JSON.stringify({
        card_number: randomCardNumber('400000'),
        exp_month: 4,
        exp_year: EXP_YEAR,
        holder_name: 'J One',
        customer_reference: 'j-1',
        metadata: { a: 1 },
      }),
      '',
      JSON.stringify({ card_number: randomCardNumber('400000'), exp_month: '5', exp_year: String(EXP_YEAR) }),
      'not json',
      JSON.stringify({ card_number: 4000000000000002, exp_month: 4, exp_year: EXP_YEAR }),
    ].join('\n');
    const publicKey = await openpgp.readKey({ armoredKey: keys.publicKey });
    const armoured = path.join(dir, 'cards.jsonl.asc');
    writeFileSync(armoured, await openpgp.encrypt({ message: await openpgp.createMessage({ text: jsonl }), encryptionKeys: publicKey }));
    const binary = path.join(dir, 'cards.jsonl.gpg');
    const binaryText = jsonl.replaceAll('J One', 'J Two').replace('"j-1"', '"j-2"');
    writeFileSync(
      binary,
      await openpgp.encrypt({ message: await openpgp.createMessage({ text: binaryText }), encryptionKeys: publicKey, format: 'binary' }),
    );

    const before = await countPms(merchantB);
    const noKey = cli(['import', '--merchant', merchantB, '--mode', 'test', '--file', armoured]);
    expect(noKey.status).not.toBe(0);
    expect(noKey.stderr).toContain('--decrypt-key');
    const other = await openpgp.generateKey({ userIDs: [{ name: 'Other' }], format: 'armored' });
    writeFileSync(path.join(dir, 'other.asc'), other.privateKey);
    const wrongKey = cli([
      'import',
      '--merchant',
      merchantB,
      '--mode',
      'test',
      '--file',
      armoured,
      '--decrypt-key',
      path.join(dir, 'other.asc'),
    ]);
    expect(wrongKey.status).not.toBe(0);
    const corrupt = path.join(dir, 'corrupt.gpg');
    const bytes = readFileSync(binary);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0xff;
    writeFileSync(corrupt, bytes);
    const bad = cli([
      'import',
      '--merchant',
      merchantB,
      '--mode',
      'test',
      '--file',
      corrupt,
      '--decrypt-key',
      path.join(dir, 'private.asc'),
    ]);
    expect(bad.status).not.toBe(0);
    expect(await countPms(merchantB)).toBe(before);

    const r = cli([
      'import',
      '--merchant',
      merchantB,
      '--mode',
      'test',
      '--file',
      armoured,
      '--decrypt-key',
      path.join(dir, 'private.asc'),
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: 4, created: 2, failed: 2 });
    expect(reportOf(armoured).map((l) => l.error ?? 'ok')).toEqual(['ok', 'ok', 'INVALID_INPUT', 'INVALID_INPUT']);
    expect(reportOf(armoured)[3]).toEqual({ row: 4, error: 'INVALID_INPUT', field: 'card_number' });

    const b = await importCards(app, { merchantId: merchantB, mode: 'TEST', file: binary, decryptKey: path.join(dir, 'private.asc') });
    // Row 2's card (no customer) is the armoured file's row 2: a duplicate.
    expect(b).toMatchObject({ rows: 4, created: 1, duplicates: 1, failed: 2 });
    expect(await countPms(merchantB)).toBe(before + 3);
    await expect(importCards(app, { merchantId: merchantB, mode: 'TEST', file: path.join(dir, 'missing.csv') })).rejects.toBeInstanceOf(
      FileUnreadable,
    );
  });

  it('an interrupted import resumes after the last committed batch: nothing twice, the report has each row once', async () => {
    const rows = Array.from({ length: 23 }, (_, i) => `${randomCardNumber('411111')},${(i % 12) + 1},${EXP_YEAR},Holder ${i},r-${i % 5},`);
    const file = path.join(dir, 'interrupted.csv');
    writeFileSync(file, ['card_number,exp_month,exp_year,holder_name,customer_reference,metadata', ...rows].join('\n'));
    const { merchantId } = await createMerchant(app, { name: 'C' });
    let batches = 0;
    await expect(
      importCards(app, {
        merchantId,
        mode: 'TEST',
        file,
        batchSize: 5,
        onProgress: () => {
          if (++batches === 2) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    expect(reportOf(file).map((l) => l.row)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const r = await importCards(app, { merchantId, mode: 'TEST', file, batchSize: 5 });
    expect(r).toMatchObject({ rows: 23, created: 13, skipped: 10, failed: 0 });
    expect(reportOf(file).map((l) => l.row)).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    expect(new Set(reportOf(file).map((l) => l.id)).size).toBe(23);
    expect(await countPms(merchantId)).toBe(23);
    const customers = await querySql(database.url, 'SELECT id FROM customers WHERE merchant_id = $1', [merchantId]);
    expect(customers).toHaveLength(5);
  });
});

describe('vault import, killed', { timeout: 180_000 }, () => {
  it('the CLI killed mid-file (SIGKILL): the rerun resumes, creates nothing twice and completes the report', async () => {
    const { merchantId } = await createMerchant(app, { name: 'K' });
    const rows = Array.from({ length: 3000 }, (_, i) => `${randomCardNumber('411111')},${(i % 12) + 1},${EXP_YEAR},Holder ${i},,`);
    const file = path.join(dir, 'killed.csv');
    writeFileSync(file, ['card_number,exp_month,exp_year,holder_name,customer_reference,metadata', ...rows].join('\n'));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', 'import', '--merchant', merchantId, '--mode', 'test', '--file', file],
      {
        env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: database.url, VAULT_MASTER_KEYS: TEST_MASTER_KEYS, LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Killed once a batch or two has committed (the report grows batch by batch).
    const report = `${file}.report.jsonl`;
    for (let i = 0; i < 600; i++) {
      if (existsSync(report) && readFileSync(report, 'utf8').split('\n').length > 300) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    const partial = existsSync(report) ? readFileSync(report, 'utf8').trim().split('\n').length : 0;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(3000);

    const r = cli(['import', '--merchant', merchantId, '--mode', 'test', '--file', file, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.rows).toBe(3000);
    expect(result.skipped).toBeGreaterThan(0);
    expect(result.failed).toBe(0);
    const lines = reportOf(file);
    expect(lines.map((l) => l.row)).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    expect(new Set(lines.map((l) => l.id)).size).toBe(3000);
    expect(await countPms(merchantId)).toBe(3000);
  });
});

describe('vault export', { timeout: 120_000 }, () => {
  it('round trip: export A to a recipient, import into another merchant: the same cards, other fingerprints', async () => {
    const out = path.join(dir, 'export.gpg');
    const r = cli([
      'export',
      '--merchant',
      merchantA,
      '--mode',
      'test',
      '--recipient',
      path.join(dir, 'public.asc'),
      '--out',
      out,
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const printed = JSON.parse(r.stdout) as { cards: number; recipientFingerprint: string };
    const fp = (await openpgp.readKey({ armoredKey: keys.publicKey })).getFingerprint().toUpperCase();
    expect(printed).toEqual({ cards: 2, recipientFingerprint: fp });
    expect(panLike(r.stdout + r.stderr)).toEqual([]);
    expect(panLike(readFileSync(out, 'latin1'))).toEqual([]);
    const audit = await querySql<{ detail: { recipientFingerprint: string } }>(
      database.url,
      "SELECT detail FROM audit_events WHERE merchant_id = $1 AND action = 'payment_method.export'",
      [merchantA],
    );
    expect(audit.map((a) => a.detail.recipientFingerprint)).toEqual([fp]);

    const { merchantId: target } = await createMerchant(app, { name: 'D' });
    const imported = await importCards(app, { merchantId: target, mode: 'TEST', file: out, decryptKey: path.join(dir, 'private.asc') });
    expect(imported).toMatchObject({ rows: 2, created: 2, failed: 0 });
    const cards = (m: string) =>
      querySql<{ last4: string; bin: string; brand: string; fingerprint: string }>(
        database.url,
        'SELECT last4, bin, brand, fingerprint FROM payment_methods WHERE merchant_id = $1 ORDER BY last4',
        [m],
      );
    const [a, d] = [await cards(merchantA), await cards(target)];
    expect(d.map(({ last4, bin, brand }) => ({ last4, bin, brand }))).toEqual(a.map(({ last4, bin, brand }) => ({ last4, bin, brand })));
    expect(d.map((c) => c.fingerprint)).not.toEqual(a.map((c) => c.fingerprint));
    // Customers by reference came along.
    const refs = await querySql(database.url, "SELECT id FROM customers WHERE merchant_id = $1 AND merchant_reference_id = 'cust-1'", [
      target,
    ]);
    expect(refs).toHaveLength(1);
  });

  it('the database holds no card number in the clear after imports and exports', async () => {
    const dump = await dumpDatabase(database.url);
    expect(panLikeInDump(dump), leakLines(dump, { dump: true }).join('\n')).toEqual([]);
  });
});
