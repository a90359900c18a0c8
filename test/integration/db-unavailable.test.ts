// The database away for a moment (a Patroni failover behind HAProxy, a restart): a request that arrives while
// no connection can be made waits for the database within its budget (VAULT_STATEMENT_TIMEOUT_MS) and succeeds
// once it is back, instead of failing at once with INTERNAL_SERVER_ERROR (src/db/connectRetry.ts). Nothing was
// sent to the database, so waiting is safe. `npm run ha -- --drill` measures the same through a real failover.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createVaultClient, PaymentMethodDocument, TokenizeCardDocument } from '../../packages/client/src/index.js';
import { parseMasterKeys } from '../../src/crypto/masterKeys.js';
import { createDb } from '../../src/db/client.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { querySql, withTestApp } from '../helpers/db.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { startPgCluster, type PgCluster } from '../helpers/pgCluster.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { withLuhn } from '../helpers/vault.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch((err: unknown) => console.error('cleanup failed:', err));
}, 120_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const card = (n: number) => withLuhn(`4000057${String(Date.now() % 1e6).padStart(6, '0')}${String(n).padStart(2, '0')}`);

async function setUp(): Promise<{ cluster: PgCluster; url: string; apiKey: string }> {
  const cluster = await startPgCluster();
  cleanups.push(() => cluster.drop());
  const databaseUrl = await cluster.createDatabase('vault');
  // A budget well above the time the cluster needs to start again on a busy machine.
  const server = await startServerProcess(databaseUrl, inject('serverLog'), { VAULT_STATEMENT_TIMEOUT_MS: '60000', VAULT_RATE_LIMIT: '0' });
  cleanups.push(() => stopProcess(server.child));
  const merchant = await withTestApp(databaseUrl, (app) => createMerchant(app, { name: 'db unavailable' }));
  return { cluster, url: server.url, apiKey: merchant.secretKey };
}

describe('database unavailable for a moment', () => {
  it('a tokenization sent while PostgreSQL is down waits for it and is stored once it is back, by the same server process', async () => {
    const { cluster, url, apiKey } = await setUp();
    const client = createVaultClient({ url, apiKey });
    const tokenize = (number: string) =>
      client.request(TokenizeCardDocument, { input: { card: { number, expMonth: 12, expYear: EXP_YEAR, holderName: 'Wait Ing' } } });

    const before = await tokenize(card(1));
    expect(before.tokenizeCard.__typename).toBe('TokenizeCardSuccess');

    // A fast shutdown terminates every pooled session; while it is down, connections are refused.
    await cluster.stop('fast');
    const number = card(2);
    // Settled into a value: a failure must show as the assertion below (its code), not as an unhandled rejection.
    const during = tokenize(number).then(
      (result) => result.tokenizeCard,
      (err: { response?: { errors?: Array<{ extensions?: { code?: string } }> } }) => ({
        __typename: `failed: ${err.response?.errors?.map((e) => e.extensions?.code).join(',') ?? 'no answer'}`,
      }),
    );
    // Let the request reach the server and meet the refused connections (without the retry it fails right here).
    await sleep(1500);
    await cluster.start();

    const answer = await during;
    expect(answer.__typename).toBe('TokenizeCardSuccess');
    if (!('paymentMethod' in answer)) return;
    const id = answer.paymentMethod.id;
    const read = await client.request(PaymentMethodDocument, { id });
    expect(read.paymentMethod?.card?.last4).toBe(number.slice(-4));
  });
});

describe('a pooled connection lost while checked out', () => {
  it('does not end the process: the client fails its next query and the pool replaces it', async () => {
    const cluster = await startPgCluster();
    cleanups.push(() => cluster.drop());
    const databaseUrl = await cluster.createDatabase('vault');
    const db = createDb(databaseUrl, parseMasterKeys(TEST_MASTER_KEYS), { poolSize: 2, timeoutMs: 5_000 });
    cleanups.push(() => db.disconnect());

    // Checked out and idle between queries, as a transaction's connection is between its statements.
    const client = await db.pool.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const ended = new Promise((resolve) => client.once('end', resolve));
    // The backend sends FATAL 57P01 to a client with no query running, like backends whose postmaster died.
    await querySql(databaseUrl, 'SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await ended;

    await expect(client.query('SELECT 1')).rejects.toThrow();
    client.release(new Error('connection lost'));
    // The pool hands out a working connection again.
    expect(await db.sql<{ one: number }>('SELECT 1 AS one', [])).toEqual([{ one: 1 }]);
  });
});
