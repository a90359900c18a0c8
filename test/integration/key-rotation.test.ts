import { execFile, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createVaultClient,
  PaymentMethodDocument,
  RevealCardDocument,
  TokenizeCardDocument,
  type VaultClient,
} from '../../packages/client/src/index.js';
import type { App } from '../../src/app/app.js';
import type { Db } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { createTestApp, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { success, uniqueVisa } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// Key rotation while a server serves traffic, on a database of its own (rotation touches every merchant).
// The server and the CLI both keep data keys for 1 s, so a rotation settles quickly.

const NEW_MASTER = `test3:${Buffer.alloc(32, 11).toString('base64')}`;
const BOTH_MASTERS = `${NEW_MASTER},${TEST_MASTER_KEYS}`;
const CACHE = { VAULT_KEY_CACHE_SECONDS: '1' };

let database: TestDatabase;
let app: App;
let db: Db;
let server: { url: string; child: ChildProcess };
let client: VaultClient;
let revealer: VaultClient;
let merchantId: string;
const vaulted = new Map<string, string>(); // pm id → card number

function cli(args: string[], masterKeys = BOTH_MASTERS): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', ...args],
      {
        env: { ...process.env, ...CACHE, NODE_ENV: 'test', DATABASE_URL: database.url, VAULT_MASTER_KEYS: masterKeys, LOG_LEVEL: 'warn' },
        timeout: 120_000,
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function tokenize(): Promise<void> {
  const number = uniqueVisa();
  const r = await client.request(TokenizeCardDocument, {
    input: { card: { number, expMonth: 6, expYear: EXP_YEAR, holderName: 'Rotating Holder' } },
  });
  vaulted.set(success(r.tokenizeCard, 'TokenizeCardSuccess').paymentMethod.id, number);
}

/** Traffic until `done` settles: new cards and masked reads of old ones. Returns how many requests ran. */
async function traffic(done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  let requests = 0;
  const ids = [...vaulted.keys()];
  await Promise.all(
    Array.from({ length: 4 }, async (_, worker) => {
      for (let i = 0; !finished; i++) {
        if (i % 2 === 0) await tokenize();
        else expect((await client.request(PaymentMethodDocument, { id: ids[(i + worker) % ids.length]! })).paymentMethod).not.toBeNull();
        requests++;
      }
    }),
  );
  return requests;
}

/** Every vaulted card reads back whole (reveal opens number, expiry and holder name). */
async function everyCardReadable(): Promise<number> {
  for (const [id, number] of vaulted) {
    const r = await revealer.request(RevealCardDocument, { id });
    expect(success(r.revealCard, 'RevealCardSuccess').card.number === number, `card ${id}`).toBe(true);
  }
  return vaulted.size;
}

/** How many sealed values of the merchant are under each data key. */
async function valuesByKey(): Promise<Map<string, number>> {
  const rows = await db.prisma.$queryRaw<{ key: string; n: number }[]>`
    SELECT split_part(v, '.', 2) AS key, count(*)::int AS n FROM (
      SELECT unnest(ARRAY[card_number, card_expiry, holder_name, nick_name, billing]) AS v FROM payment_methods WHERE merchant_id = ${merchantId}
      UNION ALL SELECT unnest(ARRAY[name, email]) FROM customers WHERE merchant_id = ${merchantId}
    ) s WHERE v IS NOT NULL GROUP BY 1`;
  return new Map(rows.map((r) => [r.key, r.n]));
}

beforeAll(async () => {
  database = await createTestDatabase();
  await migrate(database.url);
  app = await createTestApp(database.url, { db: { keyCacheMs: 1000 } }, { VAULT_MASTER_KEYS: BOTH_MASTERS });
  db = app.db;
  const m = await createMerchant(app, { name: 'Rotation' });
  merchantId = m.merchantId;
  const reveal = await createApiKey(app, { merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true });
  server = await startServerProcess(database.url, inject('serverLog'), {
    ...CACHE,
    VAULT_MASTER_KEYS: BOTH_MASTERS,
    VAULT_RATE_LIMIT: '0',
  });
  client = createVaultClient({ url: server.url, apiKey: m.secretKey });
  revealer = createVaultClient({ url: server.url, apiKey: reveal.key });
  for (let i = 0; i < 60; i++) await tokenize();
}, 120_000);

afterAll(async () => {
  if (server) await stopProcess(server.child);
  await app?.stop();
  await database?.drop();
});

describe('data-key rotation', () => {
  it('re-encrypts everything under a new key while the server serves, resumably, and retired keys only decrypt', async () => {
    const [oldKey] = (await db.prisma.dataKey.findMany({ where: { merchantId, purpose: 'ENCRYPTION', active: true } })).map((k) => k.id);

    // Interrupted on purpose after 25 rows: exit 3, the rest left for the next run.
    const first = cli(['keys', 'rotate-data', '--limit', '25', '--json']);
    const during1 = await traffic(first);
    const partial = await first;
    expect(partial.code, partial.stderr).toBe(3);
    expect(JSON.parse(partial.stdout)).toMatchObject({ rotated: 1, reencrypted: 25 });
    expect(JSON.parse(partial.stdout).remaining).toBeGreaterThan(0);
    await everyCardReadable();

    // Run again: resumes (no new key), finishes under traffic.
    const second = cli(['keys', 'rotate-data', '--batch-size', '7', '--json']);
    const during2 = await traffic(second);
    const resumed = await second;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ rotated: 0, remaining: 0 });

    const keys = await db.prisma.dataKey.findMany({ where: { merchantId, purpose: 'ENCRYPTION' }, orderBy: { createdAt: 'asc' } });
    expect(keys.map((k) => [k.id === oldKey, k.active])).toEqual([
      [true, false],
      [false, true],
    ]);
    const newKey = keys[1]!.id;
    // Everything, including what the traffic wrote during the rotation, is under the new key.
    expect([...(await valuesByKey()).keys()]).toEqual([newKey]);
    const checked = await everyCardReadable();
    console.log(`data-key rotation: ${checked} cards checked after rotating under ${during1 + during2} concurrent requests; none lost`);
    expect(checked).toBeGreaterThan(60);

    // A second rotation retires the second key too.
    const again = await cli(['keys', 'rotate-data', '--merchant', merchantId, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ rotated: 1, remaining: 0 });
    expect((await valuesByKey()).has(newKey)).toBe(false);
    await everyCardReadable();
  }, 300_000);

  it('re-wraps every data key under a new master key while the server serves', async () => {
    const rewrap = cli(['keys', 'rotate', '--json']);
    await traffic(rewrap);
    const r = await rewrap;
    expect(r.code, r.stderr).toBe(0);
    const wrappers = await db.prisma.dataKey.groupBy({ by: ['masterKeyId'], _count: true });
    expect(wrappers.map((w) => w.masterKeyId)).toEqual(['test3']);
    // The old master key can go: a server with the new one alone reads everything.
    await stopProcess(server.child);
    server = await startServerProcess(database.url, inject('serverLog'), {
      ...CACHE,
      VAULT_MASTER_KEYS: NEW_MASTER,
      VAULT_RATE_LIMIT: '0',
    });
    revealer = createVaultClient({
      url: server.url,
      apiKey: (await createApiKey(app, { merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true })).key,
    });
    await everyCardReadable();
  }, 300_000);
});
