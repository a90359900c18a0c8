import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/app.js';
import type { Db } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { authenticate } from '../../src/domain/merchants/apiKeys.js';
import { appendAudit } from '../../src/domain/audit/audit.js';
import { parseAuditSigningKey } from '../../src/crypto/auditSigningKey.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findPaymentMethod, maskedCard, tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import { createTestApp, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { rechainSql } from '../helpers/audit.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { principalOf } from '../helpers/vault.js';

// The CLI runs as operators run it (a separate process) against a database of its own: key rotation
// rewrites every merchant's data keys, which must not disturb the shared test server.
const NEW_MASTER = `test2:${Buffer.alloc(32, 9).toString('base64')}`;
let database: TestDatabase;
// The test's app, built on the master keys the CLI was last run with.
let open: App | undefined;

// A fixed test-only checkpoint signing key, and another one (an operator's key that did not sign).
const SIGNING_KEY = `audit1:${Buffer.alloc(32, 5).toString('base64')}`;
const OTHER_SIGNING_KEY = `audit2:${Buffer.alloc(32, 6).toString('base64')}`;

/** Runs the CLI; `signingKey` null: without VAULT_AUDIT_SIGNING_KEY (an auditor holding only the public key). */
function cli(
  args: string[],
  masterKeys = TEST_MASTER_KEYS,
  signingKey: string | null = SIGNING_KEY,
  env: Record<string, string | undefined> = {},
) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      DATABASE_URL: database.url,
      VAULT_MASTER_KEYS: masterKeys,
      VAULT_AUDIT_SIGNING_KEY: signingKey ?? undefined,
      LOG_LEVEL: 'warn',
      ...env,
    },
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

// Each CLI call is a process of its own (seconds each on a busy machine): tests get 90 s.
describe('operator CLI', { timeout: 90_000 }, () => {
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

  it("documents push registers the generated client's documents and refuses a tampered manifest; documents list shows them", () => {
    const manifest = JSON.parse(readFileSync('packages/client/src/generated/persisted-documents.json', 'utf8')) as Record<string, string>;
    const total = Object.keys(manifest).length;
    const first = cli(['documents', 'push', '--label', 'cli-test', '--json']);
    expect(first.status).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ total, added: total, existing: 0, refused: [] });
    const [id, text] = Object.entries(manifest)[0]!;
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'vault-docs-')), 'tampered.json');
    writeFileSync(file, JSON.stringify({ [id]: `${text} ` }));
    const tampered = cli(['documents', 'push', file]);
    expect(tampered.status).toBe(1);
    expect(tampered.stdout).toMatch(/refused 1 of 1 document\(s\); nothing stored/);
    const listed = JSON.parse(cli(['documents', 'list', '--json']).stdout) as Array<{ id: string; label: string; document: string }>;
    expect(listed.map((d) => d.id).sort()).toEqual(Object.keys(manifest).sort());
    expect(listed.find((d) => d.id === id)).toMatchObject({ label: 'cli-test', document: text });

    // A retired release: its documents removed by label; neither ids nor label (or both) is refused.
    const removed = cli(['documents', 'remove', '--label', 'cli-test', '--json']);
    expect(removed.status, removed.stderr).toBe(0);
    expect((JSON.parse(removed.stdout) as { removed: string[] }).removed.sort()).toEqual(Object.keys(manifest).sort());
    expect(cli(['documents', 'list']).stdout).toBe('no trusted documents\n');
    const neither = cli(['documents', 'remove']);
    expect(neither.status).toBe(1);
    expect(neither.stderr).toMatch(/name document ids or --label, not both/);
  }, 90_000);

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
  }, 90_000);

  it('audit seal links what the CLI and others appended; audit verify passes an intact chain', async () => {
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
    // Appended, not linked yet: the CLI's own commands above sealed what they wrote (no server runs here).
    const links = () => db.prisma.auditLink.findMany({ where: { merchantId: merchant.merchantId }, orderBy: { seq: 'asc' } });
    const before = await links();
    expect(before.length).toBeGreaterThan(1);
    expect(before.map((l) => l.position)).not.toContain(events[0]!.position);
    expect(JSON.parse(cli(['audit', 'verify', '--json']).stdout)).toMatchObject({ ok: true, unsealed: 3 });

    const sealed = cli(['audit', 'seal', '--json']);
    expect(sealed.status).toBe(0);
    expect(JSON.parse(sealed.stdout)).toEqual({ leader: true, sealed: 3 });
    const after = await links();
    expect(after.slice(-3).map((l) => l.position)).toEqual(events.map((e) => e.position));
    expect(after.slice(-3).map((l) => l.seq)).toEqual([1n, 2n, 3n].map((i) => BigInt(before.length) + i));
    expect(after.slice(-2).map((l) => l.prevHash)).toEqual(after.slice(-3, -1).map((l) => l.hash));

    const ok = cli(['audit', 'verify', '--json']);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, unsealed: 0 });
    expect(JSON.parse(ok.stdout).events).toBeGreaterThanOrEqual(after.length);
  });

  // Nine CLI processes: on the shared 2-vCPU machine more than the default 30 s.
  it('audit checkpoint signs every head; verify --checkpoint passes while the chain extends it, fails once it was rewritten', {
    timeout: 120_000,
  }, async () => {
    const db = await useRing(TEST_MASTER_KEYS);
    const printed = cli(['audit', 'checkpoint']);
    expect(printed.status).toBe(0);
    const { checkpoints } = JSON.parse(printed.stdout) as { checkpoints: Record<string, unknown>[] };
    const head = await db.prisma.auditLink.findFirstOrThrow({ where: { merchantId: merchant.merchantId }, orderBy: { seq: 'desc' } });
    expect(checkpoints.find((c) => c.merchant === merchant.merchantId)).toEqual({
      merchant: merchant.merchantId,
      seq: Number(head.seq),
      hash: head.hash,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      keyId: 'audit1',
      publicKey: parseAuditSigningKey(SIGNING_KEY).publicKey,
      signature: expect.stringMatching(/^[A-Za-z0-9+/]+=*$/),
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'vault-checkpoint-'));
    const file = path.join(dir, 'checkpoint.json');
    writeFileSync(file, printed.stdout);

    // The chain grows: it still extends the checkpoint.
    await appendAudit(
      db.prisma,
      { merchantId: merchant.merchantId, mode: null, keyId: 'cli', requestId: 'req-cp' },
      {
        action: 'merchant.note',
        entityType: 'merchant',
        outcome: 'success',
      },
    );
    expect(cli(['audit', 'seal', '--json']).status).toBe(0);
    const extended = cli(['audit', 'verify', '--checkpoint', file, '--json']);
    expect(extended.status).toBe(0);
    expect(JSON.parse(extended.stdout)).toMatchObject({ ok: true });

    // A checkpoint someone edited, or one checked with another key, is refused.
    const forged = path.join(dir, 'forged.json');
    writeFileSync(
      forged,
      printed.stdout.replace(
        head.hash,
        head.hash.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')),
      ),
    );
    const refused = cli(['audit', 'verify', '--checkpoint', forged]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/signature does not verify/);
    expect(cli(['audit', 'verify', '--checkpoint', file], TEST_MASTER_KEYS, OTHER_SIGNING_KEY).stderr).toMatch(/signed by key "audit1"/);

    // Someone able to write the tables alters an event and recomputes every link after it: the chain is
    // consistent again (plain verify passes), but no longer passes through the signed head.
    const first = (await db.prisma.auditLink.findFirstOrThrow({ where: { merchantId: merchant.merchantId, seq: 2n } })).position;
    await db.prisma.$transaction([
      db.prisma.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`),
      db.prisma.$executeRawUnsafe(
        `UPDATE audit_events SET outcome = 'denied' WHERE merchant_id = $1 AND position = $2`,
        merchant.merchantId,
        first,
      ),
      db.prisma.$executeRawUnsafe(rechainSql(merchant.merchantId)),
    ]);
    const plain = cli(['audit', 'verify', '--json']);
    expect(JSON.parse(plain.stdout)).toMatchObject({ ok: true });
    const rewritten = cli(['audit', 'verify', '--checkpoint', file, '--json']);
    expect(rewritten.status).toBe(1);
    expect(JSON.parse(rewritten.stdout)).toMatchObject({
      ok: false,
      firstBad: { merchantId: merchant.merchantId, seq: Number(head.seq), problem: expect.stringMatching(/checkpoint.*rewritten/) },
    });
    // Put the original chain back for the tests that follow (recomputing restores the original hashes).
    await db.prisma.$transaction([
      db.prisma.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`),
      db.prisma.$executeRawUnsafe(
        `UPDATE audit_events SET outcome = 'success' WHERE merchant_id = $1 AND position = $2`,
        merchant.merchantId,
        first,
      ),
      db.prisma.$executeRawUnsafe(rechainSql(merchant.merchantId)),
    ]);
    expect(cli(['audit', 'verify', '--checkpoint', file]).status).toBe(0);
  });

  it('audit public-key prints the key an auditor pins; verify --checkpoint --public-key needs no signing key', {
    timeout: 180_000,
  }, async () => {
    await useRing(TEST_MASTER_KEYS);
    const signer = parseAuditSigningKey(SIGNING_KEY);
    const other = parseAuditSigningKey(OTHER_SIGNING_KEY);
    const dir = mkdtempSync(path.join(tmpdir(), 'vault-public-key-'));
    // No development key in the data folder to fall back on.
    const auditor = { VAULT_DATA_DIR: path.join(dir, 'data') };

    const printed = cli(['audit', 'public-key']);
    expect(printed.status, printed.stderr).toBe(0);
    expect(printed.stdout).toBe(`audit1:${signer.publicKey}\n`);
    expect(Buffer.from(signer.publicKey, 'base64')).toHaveLength(32);
    const pem = cli(['audit', 'public-key', '--pem']);
    expect(pem.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$/);
    expect(JSON.parse(cli(['audit', 'public-key', '--json']).stdout)).toEqual({
      keyId: 'audit1',
      publicKey: signer.publicKey,
      pem: pem.stdout,
    });
    const pemFile = path.join(dir, 'audit1.pem');
    writeFileSync(pemFile, pem.stdout);

    const file = path.join(dir, 'checkpoint.json');
    const checkpoint = cli(['audit', 'checkpoint']).stdout;
    writeFileSync(file, checkpoint);

    // Only the public key: inline as printed, or a PEM file. The output names the key it trusted.
    const pinned = cli(
      ['audit', 'verify', '--checkpoint', file, '--public-key', printed.stdout.trim(), '--json'],
      TEST_MASTER_KEYS,
      null,
      auditor,
    );
    expect(pinned.status, pinned.stderr).toBe(0);
    expect(JSON.parse(pinned.stdout)).toMatchObject({
      ok: true,
      checkpointKey: { source: 'pinned', keyId: 'audit1', publicKey: signer.publicKey },
    });
    const fromPem = cli(['audit', 'verify', '--checkpoint', file, '--public-key', pemFile], TEST_MASTER_KEYS, null, auditor);
    expect(fromPem.status, fromPem.stderr).toBe(0);
    expect(fromPem.stdout).toMatch(/every chain extends its checkpoint, signed by the pinned public key/);
    // A checkpoint printed before checkpoints named their public key verifies the same way.
    const old = path.join(dir, 'old.json');
    const { checkpoints } = JSON.parse(checkpoint) as { checkpoints: Record<string, unknown>[] };
    writeFileSync(old, JSON.stringify({ checkpoints: checkpoints.map(({ publicKey: _, ...c }) => c) }));
    expect(cli(['audit', 'verify', '--checkpoint', old, '--public-key', pemFile], TEST_MASTER_KEYS, null, auditor).status).toBe(0);
    // Without --public-key: the configured signing key, said so; with neither, a clear refusal.
    const configured = cli(['audit', 'verify', '--checkpoint', old]);
    expect(configured.status, configured.stderr).toBe(0);
    expect(configured.stdout).toMatch(/signed by the configured VAULT_AUDIT_SIGNING_KEY \(not pinned/);
    const none = cli(['audit', 'verify', '--checkpoint', file], TEST_MASTER_KEYS, null, auditor);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no key to check the checkpoint with: pass --public-key/);

    // The wrong public key: another id, or another key without an id (PEM).
    const wrongId = cli(
      ['audit', 'verify', '--checkpoint', file, '--public-key', `audit2:${other.publicKey}`],
      TEST_MASTER_KEYS,
      null,
      auditor,
    );
    expect(wrongId.status).toBe(1);
    expect(wrongId.stderr).toMatch(/is signed by key "audit1", not the pinned public key "audit2"/);
    const wrongPem = cli(['audit', 'verify', '--checkpoint', file, '--public-key', other.pem], TEST_MASTER_KEYS, null, auditor);
    expect(wrongPem.status).toBe(1);
    expect(wrongPem.stderr).toMatch(
      /names public key \S+, not the pinned public key \S+: it was signed by another key "audit1", or altered/,
    );
    const garbage = cli(['audit', 'verify', '--checkpoint', file, '--public-key', 'audit1:not-a-key'], TEST_MASTER_KEYS, null, auditor);
    expect(garbage.status).toBe(1);
    expect(garbage.stderr).toMatch(/--public-key: the public key is neither PEM nor id:base64/);

    // Tampered: a head edited; a checkpoint re-signed by someone else's key under the same id, naming that key
    // or (as an old checkpoint) naming none. The pinned key refuses each.
    const tampered = path.join(dir, 'tampered.json');
    writeFileSync(
      tampered,
      checkpoint.replace(/"seq": (\d+)/, (_, n: string) => `"seq": ${Number(n) + 1}`),
    );
    const edited = cli(['audit', 'verify', '--checkpoint', tampered, '--public-key', pemFile], TEST_MASTER_KEYS, null, auditor);
    expect(edited.status).toBe(1);
    expect(edited.stderr).toMatch(/the signature does not verify with the pinned public key; the checkpoint was altered/);
    const forger = `audit1:${Buffer.alloc(32, 7).toString('base64')}`;
    const forged = path.join(dir, 'forged.json');
    writeFileSync(forged, cli(['audit', 'checkpoint'], TEST_MASTER_KEYS, forger).stdout);
    const resigned = cli(['audit', 'verify', '--checkpoint', forged, '--public-key', pemFile], TEST_MASTER_KEYS, null, auditor);
    expect(resigned.status).toBe(1);
    expect(resigned.stderr).toMatch(/names public key \S+, not the pinned public key/);
    const forgedOld = path.join(dir, 'forged-old.json');
    const forgedHeads = (JSON.parse(readFileSync(forged, 'utf8')) as { checkpoints: Record<string, unknown>[] }).checkpoints;
    writeFileSync(forgedOld, JSON.stringify(forgedHeads.map(({ publicKey: _, ...c }) => c)));
    const resignedOld = cli(
      ['audit', 'verify', '--checkpoint', forgedOld, '--public-key', printed.stdout],
      TEST_MASTER_KEYS,
      null,
      auditor,
    );
    expect(resignedOld.status).toBe(1);
    expect(resignedOld.stderr).toMatch(/the signature does not verify with the pinned public key/);
  });

  it('audit verify is read-only: an auditor with a SELECT-only role and no master key verifies; a database behind the code is refused untouched', {
    timeout: 180_000,
  }, async () => {
    const db = await useRing(TEST_MASTER_KEYS);
    expect(cli(['audit', 'seal']).status).toBe(0);
    const dir = mkdtempSync(path.join(tmpdir(), 'vault-auditor-'));
    const file = path.join(dir, 'checkpoint.json');
    writeFileSync(file, cli(['audit', 'checkpoint']).stdout);
    const publicKey = cli(['audit', 'public-key']).stdout.trim();

    const role = `vault_auditor_${process.pid}`;
    await db.prisma.$executeRawUnsafe(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await db.prisma.$executeRawUnsafe(`CREATE ROLE ${role} LOGIN`);
    try {
      await db.prisma.$executeRawUnsafe(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
      const url = new URL(database.url);
      url.username = role;
      url.password = '';
      // Production, no master keys, no signing key, no data folder to fall back on: only the public key.
      const auditor = {
        NODE_ENV: 'production',
        DATABASE_URL: url.toString(),
        VAULT_MASTER_KEYS: undefined,
        VAULT_DATA_DIR: path.join(dir, 'data'),
      };
      const verified = cli(['audit', 'verify', '--checkpoint', file, '--public-key', publicKey, '--json'], TEST_MASTER_KEYS, null, auditor);
      expect(verified.status, verified.stderr).toBe(0);
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, checkpointKey: { source: 'pinned' } });
      // The same role cannot run what writes (the CLI's other commands need the keys, and the role cannot write).
      const sealed = cli(['audit', 'seal'], TEST_MASTER_KEYS, null, { ...auditor, NODE_ENV: 'test' });
      expect(sealed.status).toBe(1);
    } finally {
      await db.prisma.$executeRawUnsafe(`DROP OWNED BY ${role}`);
      await db.prisma.$executeRawUnsafe(`DROP ROLE ${role}`);
    }

    // A database without this version's migrations: refused with the reason, and still without them.
    const empty = await createTestDatabase();
    try {
      const behind = cli(['audit', 'verify'], TEST_MASTER_KEYS, null, { DATABASE_URL: empty.url, VAULT_MASTER_KEYS: undefined });
      expect(behind.status).toBe(1);
      expect(behind.stderr).toMatch(/lacks \d+ migration\(s\) of this vault version .*a read-only command cannot apply them/);
      expect(behind.stderr).not.toMatch(/at .*\.ts:\d+/);
      const after = cli(['audit', 'verify'], TEST_MASTER_KEYS, null, { DATABASE_URL: empty.url });
      expect(after.stderr).toMatch(/lacks \d+ migration/);
    } finally {
      await empty.drop();
    }
  });

  it('audit verify names the first altered or missing event', async () => {
    const db = await useRing(TEST_MASTER_KEYS);
    const chain = await db.prisma.auditLink.findMany({ where: { merchantId: merchant.merchantId }, orderBy: { seq: 'asc' } });
    const [, second, third] = chain;
    const idAt = async (position: bigint) =>
      (await db.prisma.auditEvent.findUniqueOrThrow({ where: { merchantId_position: { merchantId: merchant.merchantId, position } } })).id;
    const secondId = await idAt(second!.position);
    // The tables refuse edits...
    await expect(db.prisma.$executeRaw`UPDATE audit_events SET outcome = 'success' WHERE id = ${secondId}`).rejects.toThrow(/append-only/);
    await expect(db.prisma.$executeRaw`DELETE FROM audit_events WHERE id = ${secondId}`).rejects.toThrow(/append-only/);
    await expect(db.prisma.$executeRaw`UPDATE audit_links SET hash = 'x' WHERE position = ${second!.position}`).rejects.toThrow(
      /append-only/,
    );
    await expect(db.prisma.$executeRaw`DELETE FROM audit_links WHERE position = ${second!.position}`).rejects.toThrow(/append-only/);
    // ...and an edit made around the trigger breaks the chain at that event.
    const bypass = (sql: string, ...values: unknown[]) =>
      db.prisma.$transaction([
        db.prisma.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`),
        db.prisma.$executeRawUnsafe(sql, ...values),
      ]);
    await bypass(`UPDATE audit_events SET outcome = 'failed' WHERE id = $1`, secondId);
    const altered = cli(['audit', 'verify', '--json']);
    expect(altered.status).toBe(1);
    expect(JSON.parse(altered.stdout)).toMatchObject({ ok: false, firstBad: { id: secondId, seq: Number(second!.seq) } });
    expect(cli(['audit', 'verify']).stdout).toMatch(new RegExp(`BROKEN at event ${secondId}.*altered`));

    // An event removed with its link: the sequence has a gap at the next one.
    await bypass(`DELETE FROM audit_links WHERE merchant_id = $1 AND seq = $2`, merchant.merchantId, second!.seq);
    await bypass(`DELETE FROM audit_events WHERE id = $1`, secondId);
    expect(JSON.parse(cli(['audit', 'verify', '--json']).stdout)).toMatchObject({
      ok: false,
      firstBad: { id: await idAt(third!.position), seq: Number(third!.seq), problem: expect.stringMatching(/missing/) },
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
    const principal = principalOf(
      { merchantId: merchant.merchantId, defaultProfileId: await defaultProfile(open!, merchant.merchantId) },
      { keyId: 'key_test' },
    );
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
    const principal = principalOf(
      { merchantId: merchant.merchantId, defaultProfileId: await defaultProfile(open!, merchant.merchantId) },
      { keyId: 'key_test' },
    );
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

/** The merchant's default profile (merchant create prints no profile). */
async function defaultProfile(app: App, merchantId: string): Promise<string> {
  return (await app.db.prisma.profile.findFirstOrThrow({ where: { merchantId, isDefault: true }, select: { id: true } })).id;
}
