import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createVaultClient, PaymentMethodDocument, TokenizeCardDocument } from '../../packages/client/src/index.js';
import { migrate } from '../../src/db/migrate.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import { createTestApp, createTestDatabase } from '../helpers/db.js';
import { startServerProcess, startVaultServer, stopProcess } from '../helpers/serverProcess.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { principalOf } from '../helpers/vault.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'vault-embedded-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** `npm start` with no DATABASE_URL and no VAULT_MASTER_KEYS: the newcomer's first run. */
async function startEmbedded(): Promise<{ stdout: () => string; url: string; stop: () => Promise<number | null> }> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'development', PORT: '0', VAULT_DATA_DIR: dataDir, LOG_LEVEL: 'info' };
  delete env.DATABASE_URL;
  delete env.VAULT_MASTER_KEYS;
  delete env.VAULT_DEMO_MERCHANT;
  const { child, output, url } = await startVaultServer({ env, keepOutput: true });
  return { stdout: output, url, stop: () => stopProcess(child) };
}

describe('npm start without a database', () => {
  it('runs on embedded Postgres with a development key, creates a demo merchant once, and keeps data across restarts', async () => {
    const first = await startEmbedded();
    const secretKey = /secret key\s+(sk_test_\S+)/.exec(first.stdout())?.[1];
    expect(secretKey).toBeDefined();
    expect(first.stdout()).toMatch(/publishable key\s+pk_test_/);
    expect(existsSync(path.join(dataDir, 'master-keys'))).toBe(true);
    const client = createVaultClient({ url: first.url, apiKey: secretKey! });
    const t = await client.request(TokenizeCardDocument, {
      input: { card: { number: '4242424242424242', expMonth: 12, expYear: EXP_YEAR } },
    });
    if (t.tokenizeCard.__typename !== 'TokenizeCardSuccess') throw new Error(JSON.stringify(t));
    expect(await first.stop()).toBe(0);

    const second = await startEmbedded();
    try {
      expect(second.stdout()).not.toContain('Demo merchant created');
      const again = createVaultClient({ url: second.url, apiKey: secretKey! });
      const read = await again.request(PaymentMethodDocument, { id: t.tokenizeCard.paymentMethod.id });
      expect(read.paymentMethod?.card?.last4).toBe('4242');
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 120_000);
});

describe('readiness', () => {
  it('answers 503 on /readyz when the database goes away, while /healthz stays 200', async () => {
    const database = await createTestDatabase();
    await migrate(database.url);
    const server = await startServerProcess(database.url, path.join(dataDir, 'readiness.log'));
    const base = server.url.replace(/\/graphql$/, '');
    try {
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      await database.drop();
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    } finally {
      await stopProcess(server.child);
    }
  });
});

describe('retention sweep', () => {
  it('the server purges payment methods past retainUntil periodically', async () => {
    const database = await createTestDatabase();
    await migrate(database.url);
    const app = await createTestApp(database.url);
    const { db } = app;
    try {
      const m = await createMerchant(app, { name: 'sweep' });
      const principal = principalOf(m);
      const due = await tokenizeCard(app, principal, { card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } });
      const kept = await tokenizeCard(app, principal, { card: { number: '5555555555554444', expMonth: 1, expYear: EXP_YEAR } });
      await db.prisma.paymentMethod.updateMany({
        where: { id: due.paymentMethod.id },
        data: { retainUntil: new Date(Date.now() - 60_000) },
      });
      const server = await startServerProcess(database.url, path.join(dataDir, 'sweep.log'), { VAULT_PURGE_INTERVAL_SECONDS: '1' });
      try {
        const deadline = Date.now() + 20_000;
        while ((await db.prisma.paymentMethod.count({ where: { id: due.paymentMethod.id } })) > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(await db.prisma.paymentMethod.count({ where: { id: due.paymentMethod.id } })).toBe(0);
        expect(await db.prisma.paymentMethod.count({ where: { id: kept.paymentMethod.id } })).toBe(1);
      } finally {
        await stopProcess(server.child);
      }
    } finally {
      await app.stop();
      await database.drop();
    }
  }, 60_000);
});
