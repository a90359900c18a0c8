// The vault through PgBouncer (Debian's 1.18), in transaction and in session mode: a private pgbouncer with
// its own ini in front of the test PostgreSQL server, a fresh database, and a real server process whose
// DATABASE_URL is the pooler, started as an operator would (it migrates through the pooler too).
//
// PgBouncer gives fewer server connections than the vault's pool holds, so in transaction mode the vault's
// connections take turns on them: named prepared statements then meet a server connection that lacks them or
// already has them (PgBouncer 1.18 does not track them), a LISTEN stays behind on a server connection nobody
// listens through, and a session advisory lock would outlive its "unlock". What must hold: every operation
// answers correctly, none fails, in both modes, with VAULT_DB_PREPARED_STATEMENTS left alone (the vault
// notices and stops naming statements) or set to false; the api-key cache stays off in transaction mode
// (its delivery probe fails) and turns on in session mode.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ClientError } from 'graphql-request';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createVaultClient,
  CreatePaymentDocument,
  PaymentMethodDocument,
  RevealCardDocument,
  TokenizeCardDocument,
} from '../../packages/client/src/index.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { querySql as sql, withTestApp } from '../helpers/db.js';
import { ADMIN_PG_URL } from '../helpers/env.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { pgbouncerInstalled, startPgBouncer } from '../helpers/pgbouncer.js';
import { serverEnv, startVaultServer, stopProcess } from '../helpers/serverProcess.js';
import { uniqueVisa } from '../helpers/vault.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (let c = cleanups.pop(); c; c = cleanups.pop()) await c().catch((err: unknown) => console.error('cleanup failed:', err));
}, 60_000);

beforeAll(() => {
  // CI runs on a machine like this one; install PgBouncer once if it is missing (Debian's package).
  if (!pgbouncerInstalled() && process.getuid?.() === 0) {
    execFileSync('apt-get', ['update'], { stdio: 'ignore', timeout: 240_000 });
    execFileSync('apt-get', ['install', '-y', 'pgbouncer'], {
      stdio: 'ignore',
      timeout: 240_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  if (!pgbouncerInstalled()) throw new Error('pgbouncer is not installed (apt-get install -y pgbouncer)');
}, 600_000);

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** The server's pool: more connections than PgBouncer gives it in transaction mode. */
const VAULT_POOL = 8;
/** Flows at once; each tokenizes, tokenizes again, reads, pays, replays the payment and reveals. */
const CONCURRENCY = 24;

const cases = [
  { name: 'transaction mode, prepared statements detected', mode: 'transaction', poolSize: 3, env: {} },
  // The api-key cache's LISTEN and the audit sealer's election need a session: DATABASE_DIRECT_URL gives them one.
  { name: 'transaction mode, DATABASE_DIRECT_URL for the sessions', mode: 'transaction', poolSize: 3, env: {}, direct: true },
  {
    name: 'transaction mode, VAULT_DB_PREPARED_STATEMENTS=false',
    mode: 'transaction',
    poolSize: 3,
    env: { VAULT_DB_PREPARED_STATEMENTS: 'false' },
  },
  // A session holds its server connection: one per pooled connection, plus the api-key cache's listener.
  { name: 'session mode', mode: 'session', poolSize: VAULT_POOL + 2, env: {} },
] as const;

describe('through PgBouncer', () => {
  for (const c of cases) {
    it(`${c.name}: concurrent tokenize, duplicate, masked read, payment, idempotent retry and reveal all answer correctly`, async () => {
      const database = `failover_poolers_${randomBytes(4).toString('hex')}`;
      await adminQuery(`CREATE DATABASE ${database}`);
      cleanups.push(() => adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
      const direct = new URL(ADMIN_PG_URL);
      direct.pathname = `/${database}`;

      const bouncer = await startPgBouncer({ mode: c.mode, poolSize: c.poolSize });
      cleanups.push(() => bouncer.stop());
      const server = await startVaultServer({
        env: serverEnv(bouncer.url(database), {
          DATABASE_POOL_SIZE: String(VAULT_POOL),
          VAULT_RATE_LIMIT: '0',
          ...c.env,
          ...('direct' in c && { DATABASE_DIRECT_URL: direct.toString() }),
        }),
        log: { file: inject('serverLog') },
        keepOutput: true,
      });
      cleanups.push(() => stopProcess(server.child));

      const merchant = await withTestApp(direct.toString(), (app) => createMerchant(app, { name: `poolers ${c.mode}` }));
      const revealer = await withTestApp(direct.toString(), (app) =>
        createApiKey(app, { merchantId: merchant.merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true }),
      );
      const client = createVaultClient({ url: server.url, apiKey: merchant.secretKey });
      const revealClient = createVaultClient({ url: server.url, apiKey: revealer.key });

      const errors: string[] = [];
      const wrong: string[] = [];
      const check = (what: string, ok: boolean) => ok || wrong.push(what);
      const flow = async (n: number) => {
        const number = uniqueVisa();
        const card = { number, expMonth: 12, expYear: EXP_YEAR, holderName: `Pooler ${n}` };
        try {
          const first = (await client.request(TokenizeCardDocument, { input: { card } })).tokenizeCard;
          if (first.__typename !== 'TokenizeCardSuccess') return void wrong.push(`tokenize: ${first.__typename}`);
          const id = first.paymentMethod.id;
          check('first tokenization is not a duplicate', first.duplicate === false);
          const again = (await client.request(TokenizeCardDocument, { input: { card } })).tokenizeCard;
          check('duplicate tokenization', again.__typename === 'TokenizeCardSuccess' && again.duplicate && again.paymentMethod.id === id);
          const read = (await client.request(PaymentMethodDocument, { id })).paymentMethod;
          check('masked read', read?.id === id && read.card?.last4 === number.slice(-4) && read.card.bin === number.slice(0, 6));
          const pay = { input: { amount: 1000 + n, currency: 'EUR', paymentMethodId: id } };
          const key = { 'idempotency-key': `pooler-${n}` };
          const paid = (await client.request(CreatePaymentDocument, pay, key)).createPayment;
          check('payment', paid.__typename === 'CreatePaymentSuccess' && paid.payment.status === 'COMPLETED');
          const replay = (await client.request(CreatePaymentDocument, pay, key)).createPayment;
          check(
            'idempotent retry returns the same payment',
            paid.__typename === 'CreatePaymentSuccess' &&
              replay.__typename === 'CreatePaymentSuccess' &&
              replay.payment.id === paid.payment.id,
          );
          const revealed = (await revealClient.request(RevealCardDocument, { id })).revealCard;
          check('reveal', revealed.__typename === 'RevealCardSuccess' && revealed.card.number === number);
        } catch (err) {
          errors.push(err instanceof ClientError ? JSON.stringify(err.response.errors?.map((e) => e.extensions?.code)) : String(err));
        }
      };
      for (let round = 0; round < 2; round++) {
        await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => flow(round * CONCURRENCY + i)));
      }
      const flows = 2 * CONCURRENCY;

      const [{ n: payments } = { n: -1 }] = await sql<{ n: number }>(
        direct.toString(),
        'SELECT count(*)::int AS n FROM payments WHERE merchant_id = $1',
        [merchant.merchantId],
      );
      const [{ n: cards } = { n: -1 }] = await sql<{ n: number }>(
        direct.toString(),
        'SELECT count(*)::int AS n FROM payment_methods WHERE merchant_id = $1',
        [merchant.merchantId],
      );
      // In transaction mode the api-key cache's probe cannot come back: wait for its verdict (5 s probe).
      const output = async (pattern: RegExp) => {
        for (let i = 0; i < 100 && !pattern.test(server.output()); i++) await new Promise((r) => setTimeout(r, 100));
        return server.output();
      };
      const sessions = c.mode === 'session' || 'direct' in c;
      const log = await output(sessions ? /api-key cache on/ : /api-key cache off/);
      // Every audit event linked into its chain by the elected sealer (it runs every second).
      const unsealed = async () =>
        (
          await sql<{ n: number }>(
            direct.toString(),
            `SELECT count(*)::int AS n FROM audit_events e
              WHERE NOT EXISTS (SELECT 1 FROM audit_links l WHERE l.merchant_id = e.merchant_id AND l.position = e.position)`,
          )
        )[0]?.n;
      for (let i = 0; i < 100 && (await unsealed()) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
      const notes = {
        preparedOff: log.includes('named prepared statements do not survive'),
        timeoutRefused: log.includes('refuses statement_timeout as a startup parameter'),
        optionsRefused: log.includes('refuses options as a startup parameter'),
        cacheOn: log.includes('api-key cache on'),
        cacheOff: log.includes('api-key cache off'),
        unexpected: (log.match(/unexpected error/g) ?? []).length,
      };
      console.log(
        `[poolers] ${c.name}: flows ${flows}, payments ${payments}, cards ${cards}, errors ${errors.length}, wrong ${wrong.length}, ${JSON.stringify(notes)}`,
      );

      expect(errors).toEqual([]);
      expect(wrong).toEqual([]);
      expect(payments).toBe(flows);
      expect(cards).toBe(flows);
      expect(notes.unexpected).toBe(0);
      // Stock PgBouncer refuses the startup statement_timeout: the vault noticed and connected without it.
      expect(notes.timeoutRefused).toBe(true);
      // And the planner settings (src/db/client.ts PLANNER_OPTIONS), also noticed and said once.
      expect(notes.optionsRefused).toBe(true);
      if (sessions) {
        expect(await unsealed()).toBe(0);
        expect(log).toContain('audit sealer: this process now links audit events');
      }
      if (c.mode === 'transaction') {
        // Detected (the default) or never sent (false); never an error either way.
        expect(notes.preparedOff).toBe(!('VAULT_DB_PREPARED_STATEMENTS' in c.env));
        expect(notes.cacheOn).toBe(sessions);
        expect(notes.cacheOff).toBe(!sessions);
      } else {
        expect(notes.preparedOff).toBe(false);
        expect(notes.cacheOn).toBe(true);
      }
    }, 180_000);
  }
});
