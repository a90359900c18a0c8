import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrivateAddress, isPrivateHost, publicOnlyLookup } from '../../src/domain/webhooks/addresses.js';
import { postWebhook } from '../../src/domain/webhooks/delivery.js';

// A live mode endpoint's name must not lead a delivery into the vault's own network (SSRF): a name that
// resolves to a private address is refused when the delivery connects, whatever it resolved to when the
// endpoint was created. Names are resolved by a stub here (no DNS on these machines); the server listening
// on loopback shows whether anything got through.

let server: Server;
let port: number;
let received = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    received++;
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

type Answer = { address: string; family: number }[];
const resolvingTo =
  (addresses: Answer) => (_host: string, _options: unknown, callback: (err: NodeJS.ErrnoException | null, addresses: Answer) => void) =>
    callback(null, addresses);

const post = (url: string, publicOnly: boolean, addresses: Answer) =>
  postWebhook(url, { 'content-type': 'application/json' }, '{}', { timeoutMs: 2000, publicOnly, resolve: resolvingTo(addresses) });

describe('webhook delivery addresses', () => {
  it('refuses a live endpoint whose name resolves to a private address, before connecting', async () => {
    const before = received;
    for (const addresses of [
      [{ address: '127.0.0.1', family: 4 }],
      [{ address: '169.254.169.254', family: 4 }],
      // One private address among public ones is enough: the connection may pick any of them.
      [
        { address: '203.0.113.7', family: 4 },
        { address: '10.0.0.5', family: 4 },
      ],
      [{ address: '::ffff:127.0.0.1', family: 6 }],
    ]) {
      await expect(post(`http://hooks.example.test:${port}/h`, true, addresses)).rejects.toMatchObject({ code: 'EPRIVATEADDRESS' });
    }
    await expect(post(`http://127.0.0.1:${port}/h`, true, [])).rejects.toMatchObject({ code: 'EPRIVATEADDRESS' });
    expect(received).toBe(before);
  });

  it('delivers to a local address in test mode (the server above answers)', async () => {
    const before = received;
    expect(await post(`http://127.0.0.1:${port}/h`, false, [])).toBe(204);
    expect(received).toBe(before + 1);
  });

  it("hands a public name's checked addresses to the connection, in both of lookup's forms", async () => {
    const lookup = publicOnlyLookup(resolvingTo([{ address: '203.0.113.7', family: 4 }]));
    const all = await new Promise((resolve, reject) =>
      lookup('hooks.example.test', { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
    );
    expect(all).toEqual([{ address: '203.0.113.7', family: 4 }]);
    const one = await new Promise((resolve, reject) =>
      lookup('hooks.example.test', {}, (err, address, family) => (err ? reject(err) : resolve([address, family]))),
    );
    expect(one).toEqual(['203.0.113.7', 4]);
  });

  it('tells private addresses and local names from public ones', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '169.254.169.254',
      '0.0.0.0',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:10.0.0.1',
    ])
      expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['203.0.113.7', '8.8.8.8', '2001:db8::1', '172.32.0.1']) expect(isPrivateAddress(a), a).toBe(false);
    for (const h of ['localhost', 'api.localhost', 'printer.local', 'db.internal', '[::1]', 'LOCALHOST'])
      expect(isPrivateHost(h), h).toBe(true);
    expect(isPrivateHost('example.com')).toBe(false);
  });
});
