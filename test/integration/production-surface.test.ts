import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';

// In production neither /metrics (traffic, error counts, pool and process state) nor GraphiQL is on the public
// port unless the operator says so: metrics go to a listener of their own (loopback by default) or behind a
// bearer token; GraphiQL needs VAULT_GRAPHIQL=true.

const logDir = mkdtempSync(path.join(tmpdir(), 'vault-production-'));
const TOKEN = 'metrics-token-for-tests-0123456789';
type Server = { url: string; child: ChildProcess; origin: string; log: string };
let defaults: Server;
let listener: Server;
let tokened: Server;

async function start(name: string, env: Record<string, string>): Promise<Server> {
  const log = path.join(logDir, `${name}.log`);
  const s = await startServerProcess(inject('databaseUrl'), log, { NODE_ENV: 'production', ...env });
  return { ...s, origin: new URL(s.url).origin, log };
}

beforeAll(async () => {
  [defaults, listener, tokened] = await Promise.all([
    start('defaults', {}),
    start('listener', { VAULT_METRICS_PORT: '0', VAULT_GRAPHIQL: 'true' }),
    start('token', { VAULT_METRICS_TOKEN: TOKEN }),
  ]);
});
afterAll(async () => {
  await Promise.all([defaults, listener, tokened].map((s) => s && stopProcess(s.child)));
});

const graphiqlPage = (origin: string) => fetch(`${origin}/graphql`, { headers: { accept: 'text/html' } });

/** The metrics listener's URL, as start-up prints it. */
async function metricsUrl(server: Server): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const m = /Metrics: (http\S+)/.exec(readFileSync(server.log, 'utf8'));
    if (m?.[1]) return m[1];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no metrics URL printed');
}

describe('production: /metrics and GraphiQL', () => {
  it('by default serves neither /metrics nor GraphiQL on the public port', async () => {
    expect((await fetch(`${defaults.origin}/metrics`)).status).toBe(404);
    const page = await graphiqlPage(defaults.origin);
    expect(await page.text()).not.toMatch(/graphiql/i);
    expect(page.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    // The API itself is unaffected.
    const api = await fetch(defaults.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ __typename }"}',
    });
    expect(api.status).toBe(401);
  });

  it('with VAULT_METRICS_PORT serves /metrics on its own loopback listener only; VAULT_GRAPHIQL=true turns GraphiQL on', async () => {
    const url = await metricsUrl(listener);
    expect(new URL(url).hostname).toBe('127.0.0.1');
    expect(new URL(url).port).not.toBe(new URL(listener.origin).port);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/vault_process_resident_memory_bytes/);
    expect((await fetch(`${new URL(url).origin}/graphql`)).status).toBe(404);
    expect((await fetch(`${listener.origin}/metrics`)).status).toBe(404);

    const page = await graphiqlPage(listener.origin);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/graphiql/i);
  });

  it('with VAULT_METRICS_TOKEN serves /metrics on the public port to that bearer token only', async () => {
    expect((await fetch(`${tokened.origin}/metrics`)).status).toBe(401);
    expect((await fetch(`${tokened.origin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    const res = await fetch(`${tokened.origin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/vault_graphql_requests_total|vault_process_resident_memory_bytes/);
  });
});
