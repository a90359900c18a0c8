import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getIntrospectionQuery } from 'graphql';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startVaultServer, stopProcess } from '../helpers/serverProcess.js';
import { postGraphQL, uniqueVisa } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// The embedded default as a newcomer meets it: `npm start` with no DATABASE_URL, the demo merchant's keys,
// requests one by one and many at once, pauses longer than the pool's idle timeout (10 s: pg.Pool closes the
// idle connection and opens a new one later), GraphiQL's schema fetch, and operator CLI commands that
// connect to the server's embedded database while it serves requests.

const dataDir = mkdtempSync(path.join(tmpdir(), 'vault-embedded-session-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function embeddedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'development', PORT: '0', VAULT_DATA_DIR: dataDir, LOG_LEVEL: 'info' };
  delete env.DATABASE_URL;
  delete env.VAULT_MASTER_KEYS;
  delete env.VAULT_DEMO_MERCHANT;
  delete env.VAULT_WORKERS;
  return env;
}

async function startServer(): Promise<{ child: ChildProcess; out: () => string; url: string }> {
  const { child, output, url } = await startVaultServer({ env: embeddedEnv(), keepOutput: true });
  return { child, out: output, url };
}

/** The operator CLI in its own process, on the same data folder: it connects to the server's database. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
      env: { ...embeddedEnv(), LOG_LEVEL: 'warn' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('embedded database (npm start without DATABASE_URL)', () => {
  it('keeps answering after idle pauses longer than the pool idle timeout, under concurrent requests, GraphiQL introspection and CLI commands', async () => {
    const server = await startServer();
    const post = (body: unknown, apiKey?: string) => postGraphQL(server.url, body, apiKey ? { 'api-key': apiKey } : {});
    try {
      const secretKey = /secret key\s+(sk_test_\S+)/.exec(server.out())?.[1];
      expect(secretKey).toBeDefined();
      const key = secretKey!;
      const ids: string[] = [];

      const tokenize = async () => {
        const r = await post(
          {
            query: `mutation T($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename ... on TokenizeCardSuccess { paymentMethod { id } } } }`,
            variables: { input: { card: { number: uniqueVisa(), expMonth: 12, expYear: EXP_YEAR } } },
          },
          key,
        );
        expect(r.json.errors, JSON.stringify(r.json)).toBeUndefined();
        expect(r.json.data.tokenizeCard.__typename).toBe('TokenizeCardSuccess');
        ids.push(r.json.data.tokenizeCard.paymentMethod.id);
      };
      const read = async (id: string) => {
        const r = await post({ query: `query R($id: ID!) { paymentMethod(id: $id) { id card { last4 } } }`, variables: { id } }, key);
        expect(r.json.errors, JSON.stringify(r.json)).toBeUndefined();
        expect(r.json.data.paymentMethod.id).toBe(id);
      };
      const introspect = async () => {
        const r = await post({ query: getIntrospectionQuery(), operationName: 'IntrospectionQuery' }, key);
        expect(r.json.errors, JSON.stringify(r.json)).toBeUndefined();
        expect(r.json.data.__schema.queryType.name).toBe('Query');
      };
      /** 20 tokenizations, a read of every card so far and two introspection queries, all at once. */
      const burst = async () => {
        const known = [...ids];
        await Promise.all([...Array.from({ length: 20 }, tokenize), ...known.slice(-20).map(read), introspect(), introspect()]);
      };

      // A fresh server: one request, then many at once.
      await tokenize();
      await burst();

      // Past the pool's idle timeout (10 s), with a CLI command running during the burst that follows.
      await sleep(10_500);
      const created = cli(['merchant', 'create', '--name', 'From the CLI', '--json']);
      await burst();
      const merchant = await created;
      expect(merchant.status, merchant.stderr).toBe(0);
      const other = JSON.parse(merchant.stdout) as { merchantId: string; secretKey: string };
      await read(ids[0]!);

      // The CLI's merchant works over HTTP at once; revoking a key from the CLI takes effect at once.
      const extra = await cli(['key', 'create', '--merchant', other.merchantId, '--kind', 'secret', '--mode', 'test', '--json']);
      expect(extra.status, extra.stderr).toBe(0);
      const extraKey = JSON.parse(extra.stdout) as { keyId: string; key: string };
      const whoami = async (apiKey: string) =>
        (await post({ query: `query { customers(first: 1) { edges { node { id } } } }` }, apiKey)).json;
      expect((await whoami(extraKey.key)).errors).toBeUndefined();
      const revoked = await cli(['key', 'revoke', extraKey.keyId, '--json']);
      expect(revoked.status, revoked.stderr).toBe(0);
      expect((await whoami(extraKey.key)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

      // A webhook endpoint from the CLI: its secret is sealed with the merchant's key, which the CLI loaded
      // inside the transaction, on a second connection that waited for the transaction (timed out at 15 s).
      const webhook = await cli([
        'webhook',
        'create',
        '--merchant',
        other.merchantId,
        '--mode',
        'test',
        '--url',
        'https://shop.example/hooks/vault',
        '--events',
        'payment.created',
        '--json',
      ]);
      expect(webhook.status, webhook.stderr).toBe(0);
      expect(JSON.parse(webhook.stdout).secret).toMatch(/^whsec_/);

      // A second server on the same folder would keep its own copy and lose the first one's writes: refused.
      const second = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: embeddedEnv() });
      let secondErr = '';
      second.stderr.on('data', (c: Buffer) => (secondErr += c.toString()));
      const secondExit = await new Promise<number | null>((resolve) => second.once('exit', resolve));
      expect(secondExit).toBe(1);
      expect(secondErr).toContain(`is open in another process (pid ${server.child.pid})`);
      await read(ids[0]!);

      // Idle again, twice, with bursts and a CLI command in between.
      await sleep(10_500);
      await Promise.all([
        burst(),
        cli(['key', 'list', '--merchant', other.merchantId, '--json']).then((r) => expect(r.status, r.stderr).toBe(0)),
      ]);
      await sleep(10_500);
      await burst();
      await read(ids[ids.length - 1]!);

      // The server (one process on its one-session database: no election) links every event into its
      // chain; the CLI verifies it through the server's database.
      let verified: { ok: boolean; unsealed: number; events: number } | undefined;
      for (let i = 0; i < 10 && (verified === undefined || verified.unsealed > 0); i++) {
        const r = await cli(['audit', 'verify', '--json']);
        expect(r.status, r.stderr).toBe(0);
        verified = JSON.parse(r.stdout);
      }
      expect(verified).toMatchObject({ ok: true, unsealed: 0 });
      expect(verified!.events).toBeGreaterThan(ids.length);

      expect(server.out()).not.toMatch(/already exists|INTERNAL_SERVER_ERROR/);
      // Revocation above was immediate although the api-key cache runs: NOTIFY reached the server's listener.
      expect(server.out()).toContain('api-key cache on');
    } finally {
      expect(await stopProcess(server.child)).toBe(0);
    }
  }, 180_000);
  it('lets no other local user in: the database asks for a password kept in a file only its owner reads', async () => {
    const server = await startServer();
    try {
      const marker = path.join(dataDir, 'embedded.json');
      expect(statSync(marker).mode & 0o077).toBe(0);
      // PGlite writes its files 0666: the folder that holds them is the owner's alone.
      expect(statSync(path.join(dataDir, 'pg')).mode & 0o077).toBe(0);
      const { url } = JSON.parse(readFileSync(marker, 'utf8')) as { url: string };
      const withoutPassword = new URL(url);
      withoutPassword.password = 'guessed';
      const intruder = new pg.Client({ connectionString: withoutPassword.toString() });
      intruder.on('error', () => undefined);
      await expect(intruder.connect()).rejects.toMatchObject({ code: '28P01' });
      await intruder.end().catch(() => undefined);
      const owner = new pg.Client({ connectionString: url });
      await owner.connect();
      expect((await owner.query('SELECT count(*)::int AS n FROM merchants')).rows[0].n).toBeGreaterThanOrEqual(1);
      await owner.end();
    } finally {
      await stopProcess(server.child);
    }
  });
});
