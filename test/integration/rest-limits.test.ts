import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { newMerchant, postGraphQL, useDatabase } from '../helpers/vault.js';

// The REST dialects spend the same per-key budget as GraphQL (src/http/context.ts resolvePrincipal), and
// unknown keys sent to them count against the same per-address limit.

useDatabase();

const LIMIT = 4;
let server: { url: string; child: ChildProcess };
beforeAll(async () => {
  server = await startServerProcess(inject('databaseUrl'), inject('serverLog'), {
    VAULT_RATE_LIMIT: String(LIMIT),
    VAULT_RATE_LIMIT_WINDOW_SECONDS: '60',
    VAULT_AUTH_FAILURE_LIMIT: '3',
    VAULT_AUTH_FAILURE_WINDOW_SECONDS: '60',
  });
});
afterAll(async () => {
  if (server) await stopProcess(server.child);
});

async function call(path: string, key: string | undefined) {
  const res = await fetch(`${new URL(server.url).origin}${path}`, { headers: key ? { 'api-key': key } : {} });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json: (await res.json()) as any };
}

describe('rate limits of the REST dialects', () => {
  it('one budget per api key across GraphQL and REST: then 429 with Retry-After in the error shape', async () => {
    const m = await newMerchant();
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT - 1; i++) statuses.push((await call('/v2/payment-methods/pm_0000000000000000000000', m.secretKey)).status);
    statuses.push((await postGraphQL(server.url, { query: '{ __typename }' }, { 'api-key': m.secretKey })).status);
    expect(statuses).toEqual([404, 404, 404, 200]);
    const limited = await call('/v2/customers/cus_0000000000000000000000', m.secretKey);
    expect(limited.status).toBe(429);
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(limited.json.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limited' });
    // Another key of another merchant has its own budget.
    const other = await newMerchant();
    expect((await call('/v2/customers/cus_0000000000000000000000', other.secretKey)).status).toBe(404);
  });

  it('unknown keys count against the address: then 429 without looking keys up', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await call('/v2/customers/cus_x', `sk_test_guess${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });
});
