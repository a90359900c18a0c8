import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { newMerchant, useDatabase } from '../helpers/vault.js';

// Failed authentications are limited per client address: an attacker could otherwise try keys (and make the
// vault look them up) at full speed, 1,280 in 1.5 s. Past the limit the address gets 429 RATE_LIMITED with
// Retry-After, and no key it sends is looked up, a valid one included, until the window ends.

useDatabase();

const LIMIT = 5;
let server: { url: string; child: ChildProcess };
beforeAll(async () => {
  server = await startServerProcess(inject('databaseUrl'), inject('serverLog'), {
    VAULT_AUTH_FAILURE_LIMIT: String(LIMIT),
    VAULT_AUTH_FAILURE_WINDOW_SECONDS: '60',
  });
});
afterAll(async () => {
  if (server) await stopProcess(server.child);
});

/** A GraphQL POST from `localAddress` (any 127.0.0.0/8 address reaches the loopback listener). */
function post(apiKey: string | undefined, localAddress: string): Promise<{ status: number; retryAfter?: string; json: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(apiKey && { 'api-key': apiKey }) };
    const req = httpRequest(server.url, { method: 'POST', headers, localAddress, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], json: JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ query: '{ __typename }' }));
  });
}

describe('failed authentications per client address', () => {
  it(`answers 429 RATE_LIMITED with Retry-After after ${LIMIT} unknown keys, without looking keys up; other addresses are unaffected`, async () => {
    const m = await newMerchant();
    const attacker = '127.0.0.2';
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 3; i++) statuses.push((await post(`sk_test_guess${i}`, attacker)).status);
    expect(statuses).toEqual([...Array<number>(LIMIT).fill(401), 429, 429, 429]);

    const limited = await post(`sk_test_guess_again`, attacker);
    expect(limited.status).toBe(429);
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(limited.json.errors[0].extensions.code).toBe('RATE_LIMITED');
    // Not looked up: even a valid key from the throttled address waits for the window.
    expect((await post(m.secretKey, attacker)).status).toBe(429);

    // Another address, and a request without any key (nothing to look up), are not throttled.
    expect((await post(m.secretKey, '127.0.0.3')).status).toBe(200);
    expect((await post('sk_test_typo', '127.0.0.3')).status).toBe(401);
    expect((await post(undefined, attacker)).status).toBe(401);
  });

  it('does not count keys that authenticate', async () => {
    const m = await newMerchant();
    for (let i = 0; i < LIMIT * 3; i++) expect((await post(m.secretKey, '127.0.0.4')).status).toBe(200);
    expect((await post('sk_test_unknown', '127.0.0.4')).status).toBe(401);
  });
});
