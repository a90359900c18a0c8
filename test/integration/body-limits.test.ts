import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { newMerchant, useDatabase } from '../helpers/vault.js';

// Every route reads its body under a byte limit, enforced while reading: an unauthenticated client posting
// 32 MB (with a Content-Length, or chunked without one) gets 413 and the server's memory does not grow by
// anything like what was sent. Against a server process of its own, whose RSS only this file moves.

const MB = 1024 * 1024;
const BODY_BYTES = 32 * MB;
const CHUNK = Buffer.alloc(256 * 1024, 'a');

const ROUTES: Array<{ name: string; path: string; headers: Record<string, string>; status?: number[] }> = [
  // A valid key: the body is read, and refused at the limit (the key is set in beforeAll).
  { name: 'graphql', path: '/graphql', headers: { 'content-type': 'application/json' } },
  // An unknown key: refused before the body is read (401) or by its declared length (413).
  {
    name: 'graphql, unknown key',
    path: '/graphql',
    headers: { 'content-type': 'application/json', 'api-key': 'sk_test_x' },
    status: [401, 413],
  },
  {
    name: 'sandbox challenge',
    path: '/sandbox/challenge/pay_AbCdEfGhIjKlMnOpQrStUv',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  },
  { name: 'network-token webhook', path: '/webhooks/network-tokens/sandbox', headers: { 'content-type': 'application/json' } },
  // No handler reads it: a chunked body is not read at all (404), a declared one is refused by its length.
  { name: 'unknown path', path: '/nothing-here', headers: { 'content-type': 'application/octet-stream' }, status: [413, 404] },
];

useDatabase();
let server: { url: string; child: ChildProcess };
beforeAll(async () => {
  const started = await startServerProcess(inject('databaseUrl'), inject('serverLog'), { VAULT_RATE_LIMIT: '0' });
  server = { ...started, url: new URL(started.url).origin };
  ROUTES[0]!.headers['api-key'] = (await newMerchant()).secretKey;
});
afterAll(async () => {
  if (server) await stopProcess(server.child);
});

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/**
 * Posts `total` bytes to `path` over a raw socket, chunked or with a Content-Length, writing as the socket
 * drains; the answer's status. (Node's http client drops an answer that arrives while it is still writing:
 * the server answers 413 and closes before everything is sent, so the writer's EPIPE is expected.)
 */
function postLarge(path: string, headers: Record<string, string>, total: number, withLength: boolean): Promise<number> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      // A client that has its answer stops sending (curl and Node's http client do the same).
      if (answer.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    const head = Object.entries({ ...headers, ...(withLength ? { 'content-length': String(total) } : { 'transfer-encoding': 'chunked' }) });
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nconnection: close\r\n${head.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`,
    );
    let sent = 0;
    const write = () => {
      while (sent < total && !socket.destroyed) {
        const part = CHUNK.subarray(0, Math.min(CHUNK.length, total - sent));
        sent += part.length;
        const ok = withLength
          ? socket.write(part)
          : socket.write(Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]));
        if (!ok) return void socket.once('drain', write);
      }
      if (!socket.destroyed) socket.end(withLength ? '' : '0\r\n\r\n');
    };
    write();
  });
}

describe('request body limits on every route', () => {
  it('answers 413 to 32 MB on each route, chunked and with Content-Length, and RSS grows far less than what was sent', async () => {
    const pid = server.child.pid!;
    // Warm every route once with a small body, so lazily loaded code is not counted as growth.
    for (const r of ROUTES) await postLarge(r.path, r.headers, 100, false);
    for (const r of ROUTES) await postLarge(r.path, r.headers, 2 * MB, false);
    const before = rssBytes(pid);
    let sent = 0;
    for (const r of ROUTES) {
      for (const withLength of [true, false]) {
        const status = await postLarge(r.path, r.headers, BODY_BYTES, withLength);
        expect(r.status ?? [413], `${r.name}, ${withLength ? 'Content-Length' : 'chunked'}`).toContain(status);
        sent += BODY_BYTES;
      }
    }
    const grown = rssBytes(pid) - before;
    // 256 MB offered. Before the limit applied to every route, the challenge and the webhook read whole bodies
    // (RSS +106 MB for 160 MB offered); now growth is the process's own (heap sizing, ~10-20 MB), whatever the size.
    expect(grown / sent).toBeLessThan(0.15);
    expect(grown).toBeLessThan(BODY_BYTES);
  });

  it('still reads bodies within each route limit', async () => {
    const small = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ __typename }"}',
    });
    expect(small.status).toBe(401); // read and parsed: refused for the missing key, not for its size
    const form = await fetch(`${server.url}/sandbox/challenge/pay_AbCdEfGhIjKlMnOpQrStUv`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'secret=x&outcome=success',
    });
    expect(form.status).toBe(404);
    const webhook = await fetch(`${server.url}/webhooks/network-tokens/sandbox`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(webhook.status).toBe(401);
  });
});
