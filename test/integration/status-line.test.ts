import { connect } from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { newMerchant, useDatabase } from '../helpers/vault.js';

// Every answer's status line carries the standard reason phrase. Answers built as Fetch API Responses (yoga,
// REST) have an empty statusText, which node:http wrote as `HTTP/1.1 404 ` (a trailing space, no phrase):
// legal, but what curl -i, proxies' logs and older clients show.

useDatabase();

/** The raw status line of one request, read from the socket. */
function statusLine(request: string): Promise<string> {
  const { hostname, port } = new URL(inject('graphqlUrl'));
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
      data += chunk;
      const end = data.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(data.slice(0, end));
      }
    });
    socket.on('error', reject);
  });
}

const get = (path: string, headers = '') => `GET ${path} HTTP/1.1\r\nHost: vault.test\r\n${headers}Connection: close\r\n\r\n`;
const post = (path: string, body: string, headers = '') =>
  `POST ${path} HTTP/1.1\r\nHost: vault.test\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}Connection: close\r\n\r\n${body}`;

describe('status lines', () => {
  it('carry the standard reason phrase on every route', async () => {
    const m = await newMerchant();
    const key = `api-key: ${m.secretKey}\r\n`;
    const read = JSON.stringify({ query: '{ paymentMethod(id: "pm_absent") { id } }' });
    expect(await statusLine(get('/healthz'))).toBe('HTTP/1.1 200 OK');
    expect(await statusLine(post('/graphql', read, key))).toBe('HTTP/1.1 200 OK'); // the fast path
    expect(await statusLine(post('/graphql', read, `${key}Origin: http://evil.test\r\n`))).toMatch(/^HTTP\/1\.1 (200 OK|403 Forbidden)$/);
    expect(await statusLine(post('/graphql', read))).toBe('HTTP/1.1 401 Unauthorized');
    expect(await statusLine(post('/graphql', '{"query": "{ nope }"}', key))).toBe('HTTP/1.1 400 Bad Request');
    expect(await statusLine(get('/v2/payment-methods/pm_absent', key))).toBe('HTTP/1.1 404 Not Found');
    expect(await statusLine(get('/nowhere'))).toBe('HTTP/1.1 404 Not Found');
  });
});
