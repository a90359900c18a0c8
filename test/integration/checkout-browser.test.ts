import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PaymentDocument } from '../../packages/client/src/index.js';
import { origins } from '../../src/domain/merchants/allowLists.js';
import { startCheckoutExample } from '../../examples/checkout/server.js';
import { newMerchant, useDatabase, type TestMerchant, testApp } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// The publishable-key flow in a real browser: card form -> createCardToken (cross-origin, CORS) -> merchant
// backend -> createPayment -> the vault's 3-D Secure challenge page -> back to the merchant.
const CHROMIUM = '/usr/bin/chromium';
const runnable = existsSync(CHROMIUM) || Boolean(process.env.CI);

useDatabase();

describe.runIf(runnable)('example checkout in headless Chromium', () => {
  let browser: Browser;
  let merchant: TestMerchant;
  let example: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    merchant = await newMerchant();
    example = await startCheckoutExample({
      vaultUrl: inject('graphqlUrl'),
      secretKey: merchant.secretKey,
      publishableKey: merchant.publishableKey,
    });
    await origins.allow(testApp(), merchant.merchantId, example.url);
  });
  afterAll(async () => {
    await browser?.close();
    await example?.close();
  });

  async function pay(number: string) {
    const page = await browser.newPage();
    await page.goto(example.url);
    await page.getByLabel('Card number').fill(number);
    await page.getByLabel('Expiry month').fill('12');
    await page.getByLabel('Expiry year').fill(String(EXP_YEAR));
    await page.getByLabel('CVC').fill('123');
    await page.getByRole('button', { name: 'Pay' }).click();
    return page;
  }

  it('completes a 3-D Secure payment through the challenge page', async () => {
    const page = await pay('4000 0025 0000 3155');
    await page.waitForURL(/\/sandbox\/challenge\//);
    await page.getByRole('button', { name: 'Complete authentication' }).click();
    await page.waitForURL(`${example.url}/return**`);
    expect(await page.locator('#result').textContent()).toBe('Payment COMPLETED');
    const id = new URL(page.url()).searchParams.get('payment_id')!;
    const { payment } = await merchant.client.request(PaymentDocument, { id });
    expect(payment).toMatchObject({ status: 'COMPLETED', amount: 1999, currency: 'EUR', card: { last4: '3155' } });
    await page.close();
  });

  it('completes a payment that needs no challenge', async () => {
    const page = await pay('4242 4242 4242 4242');
    await page.waitForURL(`${example.url}/return**`);
    expect(await page.locator('#result').textContent()).toBe('Payment COMPLETED');
    await page.close();
  });
});
