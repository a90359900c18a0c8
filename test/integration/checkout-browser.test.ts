import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PaymentDocument } from '../../packages/client/src/index.js';
import { origins } from '../../src/domain/merchants/allowLists.js';
import { startCheckoutExample } from '../../examples/checkout/server.js';
import { newMerchant, useDatabase, type TestMerchant, testApp } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// The example checkout with the vault's hosted card fields, in a real browser: the fields' iframe (served by
// the vault at http://localhost:…, another origin than the merchant's http://127.0.0.1:…) -> createCardToken from
// inside the iframe -> the token to the merchant's backend -> createPayment -> the vault's 3-D Secure challenge
// page -> back to the merchant. And what the merchant's page cannot do: read the number, send it anywhere, or
// frame the fields from an origin the merchant did not allow.
const CHROMIUM = '/usr/bin/chromium';
const runnable = existsSync(CHROMIUM) || Boolean(process.env.CI);
/** Where the fields' screenshots go (docs/images for the README): VAULT_SCREENSHOTS_DIR=docs/images. */
const SHOTS = process.env.VAULT_SCREENSHOTS_DIR;
const YY = String(EXP_YEAR).slice(-2);

useDatabase();

describe.runIf(runnable)('example checkout with hosted fields in headless Chromium', () => {
  let browser: Browser;
  let merchant: TestMerchant;
  let example: { url: string; close(): Promise<void> };
  let refused: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    merchant = await newMerchant();
    const options = {
      vaultUrl: inject('graphqlUrl'),
      browserVaultUrl: inject('graphqlUrl').replace('127.0.0.1', 'localhost'),
      secretKey: merchant.secretKey,
      publishableKey: merchant.publishableKey,
    };
    example = await startCheckoutExample(options);
    // The same shop on an origin the merchant never allowed.
    refused = await startCheckoutExample(options);
    await origins.allow(testApp(), merchant.merchantId, example.url);
  });
  afterAll(async () => {
    await browser?.close();
    await example?.close();
    await refused?.close();
  });

  /** The checkout page, with every request its own frame (not the fields' iframe) makes recorded. */
  async function openCheckout(
    url = example.url,
  ): Promise<{ page: Page; fields: Frame; mainFrameRequests: string[]; fieldRequests: string[] }> {
    const page = await browser.newPage();
    const mainFrameRequests: string[] = [];
    const fieldRequests: string[] = [];
    page.on('request', (request) => {
      const seen = `${request.method()} ${request.url()} ${JSON.stringify(request.headers())} ${request.postData() ?? ''}`;
      (request.frame() === page.mainFrame() ? mainFrameRequests : fieldRequests).push(seen);
    });
    await page.goto(url);
    await page.locator('#pay[data-ready]').waitFor();
    const fields = page.frames().find((f) => f.url().includes('/js/v1/fields.html'))!;
    await fields.getByLabel('Card number').waitFor();
    return { page, fields, mainFrameRequests, fieldRequests };
  }

  async function typeCard(fields: Frame, number: string) {
    await fields.getByLabel('Card number').pressSequentially(number);
    await fields.getByLabel(/Expiry date/).pressSequentially(`12${YY}`);
    await fields.getByLabel('Security code').pressSequentially('123');
  }

  it('completes a 3-D Secure payment; no request of the merchant page carries the number', async () => {
    const { page, fields, mainFrameRequests, fieldRequests } = await openCheckout();
    await typeCard(fields, '4000002500003155');
    expect(await fields.getByLabel('Card number').inputValue()).toBe('4000 0025 0000 3155');
    expect(await fields.getByLabel(/Expiry date/).inputValue()).toBe(`12 / ${YY}`);
    await page.getByRole('button', { name: 'Pay' }).click();
    await page.waitForURL(/\/sandbox\/challenge\//);
    await page.getByRole('button', { name: 'Complete authentication' }).click();
    await page.waitForURL(`${example.url}/return**`);
    expect(await page.locator('#result').textContent()).toBe('Payment COMPLETED');
    const id = new URL(page.url()).searchParams.get('payment_id')!;
    const { payment } = await merchant.client.request(PaymentDocument, { id });
    expect(payment).toMatchObject({ status: 'COMPLETED', amount: 1999, currency: 'EUR', card: { last4: '3155' } });

    // The number went to the vault from the fields' iframe, and nowhere from the merchant's page.
    expect(fieldRequests.some((r) => r.includes('4000002500003155'))).toBe(true);
    expect(mainFrameRequests.some((r) => r.includes('/pay'))).toBe(true);
    for (const request of mainFrameRequests) expect(request.replace(/\D/g, '')).not.toContain('4000002500003155');
    await page.close();
  });

  it("keeps the number out of the merchant page's reach: no DOM access, change events without card data", async () => {
    const { page, fields } = await openCheckout();
    await page.evaluate(() => {
      const seen: unknown[] = [];
      (window as any).seenMessages = seen;
      window.addEventListener('message', (e) => seen.push(e.data));
    });
    await typeCard(fields, '4242424242424242');
    await expect.poll(() => page.evaluate(() => (window as any).seenMessages.length)).toBeGreaterThan(0);
    const reach = await page.evaluate(() => {
      const frame = document.querySelector('#card iframe') as HTMLIFrameElement;
      let documentAccess: string;
      try {
        documentAccess = String(frame.contentWindow!.document.body.innerHTML);
      } catch (err) {
        documentAccess = (err as Error).name;
      }
      return { contentDocument: frame.contentDocument === null, documentAccess, messages: JSON.stringify((window as any).seenMessages) };
    });
    expect(reach.contentDocument).toBe(true);
    expect(reach.documentAccess).toBe('SecurityError');
    expect(reach.messages).toContain('"complete":true');
    expect(reach.messages).toContain('"brand":"visa"');
    expect(reach.messages.replace(/\D/g, '')).not.toContain('424242');

    // vault.js takes messages from the fields' iframe only: one forged by the page itself (or any other window)
    // with the field's id and channel is ignored.
    const forged = await page.evaluate(async (key) => {
      const card = (window as any).Vault(key).fields().create('card');
      const host = document.createElement('div');
      document.body.appendChild(host);
      await new Promise((resolve) => {
        card.on('ready', resolve);
        card.mount(host);
      });
      const changes: unknown[] = [];
      card.on('change', (e: unknown) => changes.push(e));
      const src = (host.querySelector('iframe') as HTMLIFrameElement).src;
      const { id } = JSON.parse(decodeURIComponent(src.slice(src.indexOf('#') + 1)));
      const event = { complete: true, empty: false, brand: 'visa' };
      window.postMessage({ vault: 'vault-fields-v1', id, type: 'change', event }, '*');
      await new Promise((resolve) => setTimeout(resolve, 300));
      return changes.length;
    }, merchant.publishableKey);
    expect(forged).toBe(0);
    await page.close();
  });

  it('cannot be framed by a page on an origin the merchant did not allow, even one claiming an allowed origin', async () => {
    const page = await browser.newPage();
    const blocked: string[] = [];
    page.on('console', (m) => blocked.push(m.text()));
    await page.goto(refused.url);
    // The same page also frames the fields claiming the allowed origin (the vault then allows that origin only).
    await page.evaluate(
      ([vault, key, claimed]) => {
        const frame = document.createElement('iframe');
        frame.id = 'claiming';
        frame.src = `${vault}/js/v1/fields.html?${new URLSearchParams({ key, origin: claimed })}#{"id":"x"}`;
        document.body.appendChild(frame);
      },
      [
        inject('graphqlUrl')
          .replace('127.0.0.1', 'localhost')
          .replace(/\/graphql$/, ''),
        merchant.publishableKey,
        example.url,
      ] as const,
    );
    await page.waitForTimeout(1500);
    const fieldsFrames = page.frames().filter((f) => f !== page.mainFrame());
    expect(fieldsFrames.length).toBe(2);
    for (const frame of fieldsFrames) {
      expect(frame.url()).not.toContain('/js/v1/fields.html');
      expect(await frame.locator('input').count()).toBe(0);
    }
    expect(blocked.join('\n')).toMatch(/frame-ancestors/);
    await page.close();
  });

  it('formats, detects the brand and shows errors in the merchant’s language (screenshots of each state)', async () => {
    const { page, fields } = await openCheckout();
    const shot = async (name: string) => {
      if (!SHOTS) return;
      mkdirSync(SHOTS, { recursive: true });
      await page.locator('#pay').screenshot({ path: path.join(SHOTS, `hosted-fields-${name}.png`) });
    };
    await shot('empty');
    const number = fields.getByLabel('Card number');
    await number.pressSequentially('3782 8224');
    expect(await number.inputValue()).toBe('3782 8224');
    await shot('typing');
    await number.fill('');
    await number.pressSequentially('4242424242424241');
    await fields.getByLabel(/Expiry date/).focus();
    await expect.poll(() => fields.locator('#message').textContent()).toBe('Your card number is invalid.');
    expect(await page.locator('#status').textContent()).toBe('Your card number is invalid.');
    expect(await number.getAttribute('aria-invalid')).toBe('true');
    await shot('invalid');
    await number.fill('');
    await number.pressSequentially('378282246310005');
    expect(await number.inputValue()).toBe('3782 822463 10005');
    await fields.getByLabel(/Expiry date/).pressSequentially(`12${YY}`);
    await fields.getByLabel('Security code').pressSequentially('1234');
    await expect.poll(() => number.getAttribute('class')).toContain('complete');
    expect(await fields.locator('#message').textContent()).toBe('');
    await shot('complete');
    await page.close();

    const german = await browser.newPage();
    await german.goto(`${example.url}/?locale=de`);
    await german.locator('#pay[data-ready]').waitFor();
    const deFields = german.frames().find((f) => f.url().includes('/js/v1/fields.html'))!;
    await deFields.getByLabel('Kartennummer').pressSequentially('4242');
    await german.getByRole('button', { name: 'Pay' }).click();
    await expect.poll(() => german.locator('#status').textContent()).toContain('Die Kartennummer ist unvollständig.');
    if (SHOTS) await german.locator('#pay').screenshot({ path: path.join(SHOTS, 'hosted-fields-invalid-de.png') });
    await german.close();
  });
});
