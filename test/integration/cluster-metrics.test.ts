import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createVaultClient, TokenizeCardDocument, PaymentMethodDocument } from '../../packages/client/src/index.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { newMerchant, success, uniqueVisa, useDatabase } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { sample } from '../helpers/metrics.js';

// VAULT_WORKERS: a primary and two workers sharing one port, /metrics aggregated across them.

useDatabase();

describe('cluster and metrics', () => {
  let server: { url: string; child: ChildProcess };
  beforeAll(async () => {
    server = await startServerProcess(inject('databaseUrl'), inject('serverLog'), { VAULT_WORKERS: '2' });
  }, 120_000);
  afterAll(async () => {
    if (server) expect(await stopProcess(server.child)).toBe(0);
  });

  it('serves from two workers and reports their aggregated metrics', async () => {
    const m = await newMerchant();
    const client = createVaultClient({ url: server.url, apiKey: m.secretKey });
    const ids = await Promise.all(
      Array.from(
        { length: 20 },
        async () =>
          success(
            (await client.request(TokenizeCardDocument, { input: { card: { number: uniqueVisa(), expMonth: 1, expYear: EXP_YEAR } } }))
              .tokenizeCard,
            'TokenizeCardSuccess',
          ).paymentMethod.id,
      ),
    );
    expect(new Set(ids).size).toBe(20);
    expect((await client.request(PaymentMethodDocument, { id: 'pm_missing' })).paymentMethod).toBeNull();
    const refused = await client.request(TokenizeCardDocument, {
      input: { card: { number: '4242424242424241', expMonth: 1, expYear: EXP_YEAR } },
    });
    expect(refused.tokenizeCard.__typename).toBe('ValidationError');
    await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': 'sk_test_nope' },
      body: '{"query":"{ __typename }"}',
    });

    const res = await fetch(server.url.replace(/\/graphql$/, '/metrics'));
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    // Both workers' counts, whichever one answered.
    expect(sample(text, 'vault_graphql_requests_total', { operation: 'tokenizeCard', outcome: 'ok' })).toBe(20);
    expect(sample(text, 'vault_graphql_requests_total', { operation: 'tokenizeCard', outcome: 'error' })).toBe(1);
    expect(sample(text, 'vault_errors_total', { code: 'INVALID_CARD_NUMBER' })).toBe(1);
    expect(sample(text, 'vault_errors_total', { code: 'UNAUTHENTICATED' })).toBe(1);
    expect(sample(text, 'vault_graphql_request_duration_seconds_count', { operation: 'paymentMethod' })).toBe(1);
    expect(text).toMatch(/vault_db_pool_connections\{state="total"/);
    expect(text).toMatch(/vault_process_resident_memory_bytes/);
  });
});
