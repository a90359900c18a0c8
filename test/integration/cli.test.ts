import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/app.js';
import type { Db } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { authenticate } from '../../src/domain/merchants/apiKeys.js';
import { appendAudit } from '../../src/domain/audit/audit.js';
import { findPaymentMethod, maskedCard, tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import type { Principal } from '../../src/domain/shared/principal.js';
import { createTestApp, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// The CLI runs as operators run it (a separate process) against a database of its own: key rotation
// rewrites every merchant's data keys, which must not disturb the shared test server.
const NEW_MASTER = `test2:${Buffer.alloc(32, 9).toString('base64')}`;
let database: TestDatabase;
// The test's app, built on the master keys the CLI was last run with.
let open: App | undefined;

function cli(args: string[], masterKeys = TEST_MASTER_KEYS) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: database.url, VAULT_MASTER_KEYS: masterKeys, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function useRing(masterKeys: string): Promise<Db> {
  await open?.stop();
  open = await createTestApp(database.url, {}, { VAULT_MASTER_KEYS: masterKeys });
  return open.db;
}

beforeAll(async () => {
  database = await createTestDatabase();
  await migrate(database.url);
});
afterAll(async () => {
  await open?.stop();
  await database.drop();
});

describe('operator CLI', () => {
  let merchant: { merchantId: string; secretKey: string; publishableKey: string };

  it('merchant create --json prints one JSON object and nothing else', () => {
    const r = cli(['merchant', 'create', '--name', 'Acme', '--json']);
    expect(r.status).toBe(0);
    merchant = JSON.parse(r.stdout);
    expect(Object.keys(merchant).sort()).toEqual(['merchantId', 'publishableKey', 'secretKey']);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(merchant.merchantId).toMatch(/^mer_/);
    expect(merchant.secretKey).toMatch(/^sk_test_[0-9A-Za-z]{43}$/);
    expect(merchant.publishableKey).toMatch(/^pk_test_[0-9A-Za-z]{43}$/);
  });

  it('`npx vault … --json` (the package bin) prints the JSON alone, with no npm banner, so it pipes into jq', () => {
    // A read-only command: a merchant created here would change the key rotation test's counts.
    const r = spawnSync('npx', ['--no', 'vault', 'key', 'list', '--merchant', merchant.merchantId, '--json'], {
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: database.url, VAULT_MASTER_KEYS: TEST_MASTER_KEYS, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const keys = JSON.parse(r.stdout) as Array<{ keyId: string }>;
    expect(keys.map((k) => k.keyId)).toHaveLength(2);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('creates, lists and revokes keys; keys are shown once and stored only as hashes', async () => {
    const created = cli([
      'key',
      'create',
      '--merchant',
      merchant.merchantId,
      '--kind',
      'secret',
      '--mode',
      'live',
      '--allow-reveal',
      '--json',
    ]);
    expect(created.status).toBe(0);
    const key = JSON.parse(created.stdout) as { keyId: string; key: string };
    expect(Object.keys(key).sort()).toEqual(['key', 'keyId']);
    expect(key.key).toMatch(/^sk_live_/);

    const listed = cli(['key', 'list', '--merchant', merchant.merchantId, '--json']);
    expect(listed.status).toBe(0);
    const keys = JSON.parse(listed.stdout) as Array<{
      keyId: string;
      kind: string;
      mode: string;
      allowReveal: boolean;
      revokedAt: string | null;
    }>;
    expect(keys).toHaveLength(3);
    expect(keys.find((k) => k.keyId === key.keyId)).toMatchObject({ kind: 'SECRET', mode: 'LIVE', allowReveal: true, revokedAt: null });
    for (const secret of [key.key, merchant.secretKey, merchant.publishableKey]) expect(listed.stdout).not.toContain(secret);

    const db = await useRing(TEST_MASTER_KEYS);
    const stored = await db.prisma.apiKey.findMany({ where: { merchantId: merchant.merchantId } });
    for (const row of stored) expect(JSON.stringify(row)).not.toContain(key.key.slice(12));
    expect(await authenticate(open!, key.key)).toMatchObject({ merchantId: merchant.merchantId, mode: 'LIVE', allowReveal: true });

    expect(cli(['key', 'revoke', key.keyId]).status).toBe(0);
    expect(await authenticate(open!, key.key)).toBeNull();
    expect(await authenticate(open!, merchant.secretKey)).not.toBeNull();
  });

  it('allows, lists and disallows browser origins', () => {
    const allowed = cli(['merchant', 'allow-origin', '--merchant', merchant.merchantId, '--origin', 'https://Shop.Example/', '--json']);
    expect(allowed.status).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ origin: 'https://shop.example', allowed: true });
    expect(JSON.parse(cli(['merchant', 'origins', '--merchant', merchant.merchantId, '--json']).stdout)).toEqual(['https://shop.example']);
    const bad = cli(['merchant', 'allow-origin', '--merchant', merchant.merchantId, '--origin', 'https://shop.example/checkout']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/no path/);
    expect(
      JSON.parse(
        cli(['merchant', 'disallow-origin', '--merchant', merchant.merchantId, '--origin', 'https://shop.example', '--json']).stdout,
      ),
    ).toMatchObject({ removed: true });
    expect(JSON.parse(cli(['merchant', 'origins', '--merchant', merchant.merchantId, '--json']).stdout)).toEqual([]);
  });

  it('allows, lists and disallows forwarding hosts', () => {
    const allowed = cli(['merchant', 'allow-host', '--merchant', merchant.merchantId, '--host', 'API.PSP.example:08443', '--json']);
    expect(allowed.status).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ host: 'api.psp.example:8443', allowed: true });
    expect(cli(['merchant', 'allow-host', '--merchant', merchant.merchantId, '--host', 'pay.example']).stdout).toBe(
      'allowed pay.example\n',
    );
    expect(JSON.parse(cli(['merchant', 'hosts', '--merchant', merchant.merchantId, '--json']).stdout)).toEqual([
      'api.psp.example:8443',
      'pay.example',
    ]);
    const bad = cli(['merchant', 'allow-host', '--merchant', merchant.merchantId, '--host', 'https://pay.example/charges']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/host name or IP address/);
    expect(
      JSON.parse(cli(['merchant', 'disallow-host', '--merchant', merchant.merchantId, '--host', 'pay.example', '--json']).stdout),
    ).toMatchObject({ removed: true });
    expect(JSON.parse(cli(['merchant', 'hosts', '--merchant', merchant.merchantId, '--json']).stdout)).toEqual(['api.psp.example:8443']);
  });

  it('audit verify passes an intact chain, and names the first altered or missing event', async () => {
    const db = await useRing(TEST_MASTER_KEYS);
    const actor = { merchantId: merchant.merchantId, mode: 'TEST' as const, keyId: 'key_audit', requestId: 'req-audit' };
    const events: Awaited<ReturnType<typeof appendAudit>>[] = [];
    for (const outcome of ['success', 'denied', 'success'] as const) {
      events.push(
        await appendAudit(db.prisma, actor, {
          action: 'payment_method.reveal',
          entityType: 'payment_method',
          entityId: 'pm_x',
          outcome,
          detail: { n: events.length },
        }),
      );
    }
    // The CLI's own commands above (merchant create, keys, origins, hosts) were audited first.
    expect(events[0]!.seq).toBeGreaterThan(1n);
    expect([events[1]!.prevHash, events[2]!.prevHash]).toEqual([events[0]!.hash, events[1]!.hash]);
    expect(events.map((e) => e.seq)).toEqual([events[0]!.seq, events[0]!.seq + 1n, events[0]!.seq + 2n]);
    const ok = cli(['audit', 'verify', '--json']);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true });
    expect(JSON.parse(ok.stdout).events).toBeGreaterThanOrEqual(Number(events[2]!.seq));

    // The table refuses edits...
    await expect(db.prisma.$executeRaw`UPDATE audit_events SET outcome = 'success' WHERE id = ${events[1]!.id}`).rejects.toThrow(
      /append-only/,
    );
    await expect(db.prisma.$executeRaw`DELETE FROM audit_events WHERE id = ${events[1]!.id}`).rejects.toThrow(/append-only/);
    // ...and an edit made around the trigger breaks the chain at that event.
    const bypass = (sql: string) =>
      db.prisma.$transaction([
        db.prisma.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`),
        db.prisma.$executeRawUnsafe(sql, events[1]!.id),
      ]);
    await bypass(`UPDATE audit_events SET outcome = 'success' WHERE id = $1`);
    const altered = cli(['audit', 'verify', '--json']);
    expect(altered.status).toBe(1);
    expect(JSON.parse(altered.stdout)).toMatchObject({ ok: false, firstBad: { id: events[1]!.id, seq: Number(events[1]!.seq) } });
    expect(cli(['audit', 'verify']).stdout).toMatch(new RegExp(`BROKEN at event ${events[1]!.id}.*altered`));

    await bypass(`DELETE FROM audit_events WHERE id = $1`);
    expect(JSON.parse(cli(['audit', 'verify', '--json']).stdout)).toMatchObject({
      ok: false,
      firstBad: { id: events[2]!.id, seq: Number(events[2]!.seq) },
    });
  });

  it('refuses bad arguments with a message and a non-zero exit', () => {
    const kind = cli(['key', 'create', '--merchant', merchant.merchantId, '--kind', 'admin', '--mode', 'test']);
    expect(kind.status).not.toBe(0);
    expect(kind.stderr).toMatch(/secret, publishable/);
    const unknown = cli(['key', 'create', '--merchant', 'mer_nope', '--kind', 'secret', '--mode', 'test', '--json']);
    expect(unknown.status).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain('No merchant');
    expect(cli(['merchant', 'create']).status).not.toBe(0);
  });

  it('purge deletes payment methods past retention, and only those', async () => {
    const db = await useRing(TEST_MASTER_KEYS);
    const principal: Principal = { merchantId: merchant.merchantId, mode: 'TEST', keyId: 'key_test', kind: 'SECRET', allowReveal: false };
    const old = await tokenizeCard(open!, principal, { card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } });
    const kept = await tokenizeCard(open!, principal, { card: { number: '5555555555554444', expMonth: 1, expYear: EXP_YEAR } });
    await db.prisma.paymentMethod.updateMany({
      where: { merchantId: merchant.merchantId, id: old.paymentMethod.id },
      data: { retainUntil: new Date(Date.now() - 1000) },
    });
    const r = cli(['purge', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ purged: 1 });
    expect(await findPaymentMethod(open!, principal, old.paymentMethod.id)).toBeNull();
    expect(await findPaymentMethod(open!, principal, kept.paymentMethod.id)).not.toBeNull();
  });

  it('keys rotate re-wraps every data key under the new master key; data stays readable', async () => {
    const principal: Principal = { merchantId: merchant.merchantId, mode: 'TEST', keyId: 'key_test', kind: 'SECRET', allowReveal: false };
    await useRing(TEST_MASTER_KEYS);
    const pm = await tokenizeCard(open!, principal, {
      card: { number: '378282246310005', expMonth: 7, expYear: EXP_YEAR, holderName: 'Rotated' },
    });

    const r = cli(['keys', 'rotate', '--json'], `${NEW_MASTER},${TEST_MASTER_KEYS}`);
    expect(r.status).toBe(0);
    // The encryption key and a fingerprint key per mode.
    expect(JSON.parse(r.stdout)).toEqual({ rewrapped: 3, total: 3 });
    expect(JSON.parse(cli(['keys', 'rotate', '--json'], `${NEW_MASTER},${TEST_MASTER_KEYS}`).stdout)).toEqual({ rewrapped: 0, total: 3 });

    // Only the new master key is needed now; the old one alone no longer unwraps anything.
    const rotated = await useRing(NEW_MASTER);
    expect((await rotated.prisma.dataKey.findMany()).every((k) => k.masterKeyId === 'test2')).toBe(true);
    const row = await findPaymentMethod(open!, principal, pm.paymentMethod.id);
    const card = await maskedCard(open!, row!);
    expect(card).toMatchObject({ last4: '0005', expMonth: 7 });
    expect(await card.holderName()).toBe('Rotated');
    await useRing(TEST_MASTER_KEYS);
    await expect(maskedCard(open!, (await findPaymentMethod(open!, principal, pm.paymentMethod.id))!)).rejects.toThrow(/test2/);
  });
});
