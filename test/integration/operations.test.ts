import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { TokenizeCardDocument } from '../../packages/client/src/index.js';
import { serverEnv, startServerProcess, startVaultServer, stopProcess, VAULT_ENTRY } from '../helpers/serverProcess.js';
import { createVaultClient } from '../../packages/client/src/index.js';
import { newMerchant, useDatabase, withLuhn } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

const getDb = useDatabase();
const base = () => inject('graphqlUrl').replace(/\/graphql$/, '');

describe('HTTP surface', () => {
  it('serves /healthz and /readyz', async () => {
    expect((await fetch(`${base()}/healthz`)).status).toBe(200);
    expect((await fetch(`${base()}/readyz`)).status).toBe(200);
  });

  it('serves GraphiQL at GET /graphql with an example operation and the api-key header to fill', async () => {
    const res = await fetch(inject('graphqlUrl'), { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('api-key');
    expect(html).toContain('tokenizeCard');
  });

  it('answers an unreadable Content-Type and an unknown path with a coded error body, not an empty one', async () => {
    const m = await newMerchant();
    for (const contentType of ['text/plain', undefined]) {
      const res = await fetch(inject('graphqlUrl'), {
        method: 'POST',
        headers: { 'api-key': m.secretKey, ...(contentType && { 'content-type': contentType }) },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(res.status).toBe(415);
      expect(await res.json()).toEqual({
        errors: [{ message: expect.stringContaining('application/json'), extensions: { code: 'BAD_REQUEST' } }],
      });
    }
    const missing = await fetch(`${base()}/nothing-here`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ errors: [{ extensions: { code: 'NOT_FOUND' } }] });
  });

  it('masks unexpected faults as INTERNAL_SERVER_ERROR with a generic message', async () => {
    const m = await newMerchant();
    const res = await fetch(inject('graphqlUrl'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': m.secretKey },
      body: JSON.stringify({ query: '{ paymentMethod(id: "pm_x") { id } }' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).data.paymentMethod).toBeNull();
  });
});

describe('process lifecycle', () => {
  it('stops at start-up naming the bad variable', () => {
    for (const [name, value] of [
      ['PORT', 'not-a-port'],
      ['VAULT_MASTER_KEYS', 'k1:c2hvcnQ='],
      ['DATABASE_URL', 'mysql://nope'],
    ] as const) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', VAULT_ENTRY.source], {
        env: serverEnv(inject('databaseUrl'), { [name]: value }),
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(name);
      if (name === 'VAULT_MASTER_KEYS') expect(r.stderr).not.toContain('c2hvcnQ');
    }
  });

  it("survives visitors opening GraphiQL at once under npm start's 128 MB heap", async () => {
    // Each visit used to render a new 9 MB page: six at once aborted the process (heap out of memory).
    const { url, child } = await startVaultServer({
      env: serverEnv(inject('databaseUrl')),
      nodeFlags: ['--max-old-space-size=128'],
      log: { file: path.join(tmpdir(), `vault-graphiql-${process.pid}.log`) },
    });
    let exit: number | null | undefined;
    child.once('exit', (code) => (exit = code));
    try {
      for (let round = 0; round < 2; round++) {
        const pages = await Promise.all(
          Array.from({ length: 6 }, () =>
            fetch(url, { headers: { accept: 'text/html' } }).then(async (r) => [r.status, (await r.text()).length]),
          ),
        );
        expect(new Set(pages.map(([status]) => status))).toEqual(new Set([200]));
        expect(Math.min(...pages.map(([, length]) => length!))).toBeGreaterThan(1_000_000);
      }
      expect((await fetch(url.replace(/\/graphql$/, '/healthz'))).status).toBe(200);
      expect(exit).toBeUndefined();
    } finally {
      await stopProcess(child);
    }
  });

  it('drains on SIGTERM: exits 0, every acknowledged card is stored, nothing stored goes unacknowledged', async () => {
    const logFile = path.join(tmpdir(), `vault-shutdown-${process.pid}.log`);
    const server = await startServerProcess(inject('databaseUrl'), logFile);
    const m = await newMerchant();
    const client = createVaultClient({ url: server.url, apiKey: m.secretKey });
    const inflight = Array.from({ length: 40 }, (_, i) =>
      client.request(TokenizeCardDocument, {
        input: { card: { number: withLuhn(`4000123400000${String(i).padStart(2, '0')}`), expMonth: 1, expYear: EXP_YEAR } },
      }),
    );
    await Promise.race(inflight);
    const exitCode = stopProcess(server.child, 'SIGTERM');
    const settled = await Promise.allSettled(inflight);
    expect(await exitCode).toBe(0);
    const acknowledged = settled.flatMap((s) =>
      s.status === 'fulfilled' && s.value.tokenizeCard.__typename === 'TokenizeCardSuccess' ? [s.value.tokenizeCard.paymentMethod.id] : [],
    );
    // A request either got its answer, or never reached the server (refused or reset while still in the
    // listen backlog): no GraphQL error, no 5xx.
    for (const s of settled) {
      if (s.status === 'rejected')
        expect(['ECONNRESET', 'ECONNREFUSED', 'UND_ERR_SOCKET']).toContain((s.reason as { cause?: { code?: string } }).cause?.code);
    }
    expect(acknowledged.length).toBe(settled.filter((s) => s.status === 'fulfilled').length);
    const stored = await getDb().prisma.paymentMethod.findMany({ where: { merchantId: m.merchantId }, select: { id: true } });
    expect(stored.map((r) => r.id).sort()).toEqual([...acknowledged].sort());
  });
});
