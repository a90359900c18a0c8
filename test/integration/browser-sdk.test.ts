import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { origins } from '../../src/domain/merchants/allowLists.js';
import { pushDocuments } from '../../src/cli/commands/documents.js';
import { CREATE_CARD_TOKEN, requestToken } from '../../sdk/protocol.js';
import { documentIdOf } from '../../src/domain/trustedDocuments/trustedDocuments.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { newMerchant, type TestMerchant, testApp, useDatabase } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// The browser SDK as the vault serves it: GET /js/v1/vault.js (cacheable, any origin, the bytes of the
// printed integrity hash), the hosted fields' page (framed only by the key's merchant's allowed origins), and
// vault.js's createToken(card) in a real browser from an allowed and a refused origin.

useDatabase();

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const base = () => inject('graphqlUrl').replace(/\/graphql$/, '');
const sha384 = (body: ArrayBuffer) => `sha384-${createHash('sha384').update(Buffer.from(body)).digest('base64')}`;

describe('GET /js/v1/vault.js', () => {
  it('serves a public, cacheable script whose bytes match the integrity hash `npm run sdk:build` prints', async () => {
    const res = await fetch(`${base()}/js/v1/vault.js`, { headers: { origin: 'https://any-shop.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d{3,}/);
    const body = await res.arrayBuffer();
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'sdk/build.ts', '--json', '--no-write'], {
      cwd: ROOT,
    });
    const printed = JSON.parse(stdout) as Record<string, { integrity: string; bytes: number; gzip: number }>;
    expect(sha384(body)).toBe(printed['vault.js']!.integrity);
    expect(res.headers.get('etag')).toBe(`"${printed['vault.js']!.integrity}"`);
    // The README prints the hash for merchants' integrity attribute: it must be this script's.
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const inReadme = /src="https:\/\/vault\.example\/js\/v1\/vault\.js"\s+integrity="(sha384-[A-Za-z0-9+/=]+)"/.exec(readme)?.[1];
    expect(inReadme, 'README.md: update the integrity attribute to what `npm run sdk:build` prints').toBe(sha384(body));
    // Small, and the classic script defines the global.
    expect(printed['vault.js']!.gzip).toBeLessThan(5 * 1024);
    expect(new TextDecoder().decode(body)).toContain('.Vault=');

    const again = await fetch(`${base()}/js/v1/vault.js`, { headers: { 'if-none-match': res.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  it('answers HEAD, 404 for other paths under /js/v1/ and 405 for other methods', async () => {
    expect((await fetch(`${base()}/js/v1/nope.js`)).status).toBe(404);
    expect((await fetch(`${base()}/js/v1/vault.js`, { method: 'POST', body: 'x' })).status).toBe(405);
    const head = await fetch(`${base()}/js/v1/vault.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  });
});

describe('GET /js/v1/fields.html', () => {
  let merchant: TestMerchant;
  let other: TestMerchant;
  const shop = 'https://shop.example';
  beforeAll(async () => {
    merchant = await newMerchant();
    other = await newMerchant();
    await origins.allow(testApp(), merchant.merchantId, shop);
    await origins.allow(testApp(), merchant.merchantId, 'http://127.0.0.1:5000');
  });
  const fieldsPage = (key: string, origin: string) => fetch(`${base()}/js/v1/fields.html?${new URLSearchParams({ key, origin })}`);

  it("may be framed by the merchant's allowed origins only, and loads nothing but its own script", async () => {
    const res = await fieldsPage(merchant.publishableKey, shop);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toMatch(/frame-ancestors http:\/\/127\.0\.0\.1:5000 https:\/\/shop\.example$/);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    const fieldsJs = await (await fetch(`${base()}/js/v1/fields.js`)).arrayBuffer();
    expect(html).toContain(`<script src="fields.js" integrity="${sha384(fieldsJs)}"`);
  });

  it('refuses (and nobody may frame) an origin not on the list, an unknown key, a secret key, another merchant’s key', async () => {
    for (const [key, origin] of [
      [merchant.publishableKey, 'https://evil.example'],
      [`pk_test_${'x'.repeat(43)}`, shop],
      [merchant.secretKey, shop],
      [other.publishableKey, shop],
    ] as const) {
      const res = await fieldsPage(key, origin);
      expect(res.status).toBe(403);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(await res.text()).not.toContain('fields.js');
    }
  });
});

describe('the SDK against a vault running trusted documents only', () => {
  let server: { url: string; child: ChildProcess };
  let merchant: TestMerchant;
  beforeAll(async () => {
    server = await startServerProcess(inject('databaseUrl'), inject('serverLog'), { VAULT_TRUSTED_DOCUMENTS: 'require' });
    merchant = await newMerchant();
  });
  afterAll(async () => {
    if (server) await stopProcess(server.child);
  });

  it('sends its document by id once the operator pushed dist/sdk/persisted-documents.json', async () => {
    // What `npm run build` writes there (sdk/build.ts).
    await pushDocuments(testApp(), { [documentIdOf(CREATE_CARD_TOKEN)]: CREATE_CARD_TOKEN }, 'browser-sdk');
    const result = await requestToken(server.url, merchant.publishableKey, { number: '4242424242424242', expMonth: 12, expYear: EXP_YEAR });
    expect(result).toMatchObject({ token: expect.stringMatching(/^tok_/), card: { last4: '4242', brand: 'visa' } });
  });
});

const CHROMIUM = '/usr/bin/chromium';

interface PageServer {
  origin: string;
  close(): Promise<void>;
}

/** One page on an origin of its own (127.0.0.1 and a free port; the vault is reached as localhost). */
async function servePage(html: string): Promise<PageServer> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe.runIf(existsSync(CHROMIUM) || Boolean(process.env.CI))('vault.js createToken(card) in headless Chromium', () => {
  let browser: Browser;
  let merchant: TestMerchant;
  let shop: PageServer;
  let evil: PageServer;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    merchant = await newMerchant();
    const vaultJs = `${base().replace('127.0.0.1', 'localhost')}/js/v1/vault.js`;
    const integrity = sha384(await (await fetch(`${base()}/js/v1/vault.js`)).arrayBuffer());
    const html = `<!doctype html><title>shop</title><script src="${vaultJs}" integrity="${integrity}" crossorigin="anonymous"></script>`;
    shop = await servePage(html);
    evil = await servePage(html);
    await origins.allow(testApp(), merchant.merchantId, shop.origin);
  });
  afterAll(async () => {
    await browser?.close();
    await shop?.close();
    await evil?.close();
  });

  /** A page at `origin` that loads vault.js from the vault (at http://localhost:…), as a merchant's would. */
  async function pageAt(origin: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    return page;
  }

  const createToken = (page: Page, key: string, card: object) =>
    page.evaluate(([k, c]) => (window as any).Vault(k).createToken(c), [key, card] as const);

  it("tokenizes a card from the merchant's allowed origin, the vault's address read from the script tag", async () => {
    const page = await pageAt(shop.origin);
    const result = await createToken(page, merchant.publishableKey, {
      number: '4242 4242 4242 4242',
      expMonth: 12,
      expYear: EXP_YEAR,
      cvc: '123',
    });
    expect(result).toMatchObject({
      token: expect.stringMatching(/^tok_/),
      card: { bin: '424242', last4: '4242', brand: 'visa', expMonth: 12, expYear: EXP_YEAR },
      expiresAt: expect.any(String),
    });
    const invalid = await createToken(page, merchant.publishableKey, { number: '4242 4242 4242 4241', expMonth: 12, expYear: EXP_YEAR });
    expect(invalid.error).toMatchObject({ code: 'invalid_card_number', fields: [{ field: 'number', code: 'invalid_card_number' }] });
    expect(JSON.stringify(invalid)).not.toContain('4241');
    await page.close();
  });

  it('answers { error } from an origin the merchant did not allow, and refuses a secret key outright', async () => {
    const page = await pageAt(evil.origin);
    const result = await createToken(page, merchant.publishableKey, { number: '4242424242424242', expMonth: 12, expYear: EXP_YEAR });
    expect(result.error.code).toBe('network_error'); // the preflight is refused: the page learns nothing more
    const thrown = await page.evaluate((k) => {
      try {
        (window as any).Vault(k);
        return 'no error';
      } catch (err) {
        return (err as Error).message;
      }
    }, merchant.secretKey);
    expect(thrown).toMatch(/publishable key/);
    await page.close();
  });
});
