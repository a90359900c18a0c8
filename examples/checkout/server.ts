import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { CheckoutCreatePaymentDocument, CheckoutPaymentDocument, createVaultClient } from '../../packages/client/src/index.js';
import { loadSdk } from '../../src/http/routes/sdkBundles.js';

// A tiny merchant: it serves a checkout page on its own origin with the vault's hosted card fields (an iframe
// served by the vault, vault.js), the iframe tokenizes the card at the vault with the publishable key (neither
// this page nor this server ever holds the number), and this backend pays with the token using the secret key,
// which never leaves it. `npm run example:checkout`.

export interface CheckoutExampleOptions {
  /** The vault's GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql */
  vaultUrl: string;
  /** The vault's address as the shopper's browser reaches it (vault.js, the fields); default: vaultUrl's. */
  browserVaultUrl?: string;
  secretKey: string;
  publishableKey: string;
  /** 0 or absent: a free port. */
  port?: number;
}

export interface CheckoutExample {
  /** This merchant's origin, which must be on its allow-list at the vault. */
  url: string;
  close(): Promise<void>;
}

/** Where `npm start` serves the API with the default HOST and PORT. */
const DEFAULT_VAULT_URL = 'http://127.0.0.1:4000/graphql';

const ORDER = { amount: 1999, currency: 'EUR', label: '€19.99' };
const TEMPLATE = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

function checkoutPage(vaultJs: string, integrity: string, publishableKey: string): string {
  // JSON in a <script> element: "<" escaped so no value can close the element.
  const config = JSON.stringify({ publishableKey }).replace(/</g, '\\u003c');
  return TEMPLATE.replace('{{amount}}', ORDER.label)
    .replace('{{config}}', config)
    .replace('{{vaultJs}}', escape(vaultJs))
    .replace('{{integrity}}', escape(integrity));
}

function resultPage(heading: string, detail = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(heading)}</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 26rem; margin: 3rem auto; padding: 0 1rem; }</style></head>
<body><main><h1 id="result">${escape(heading)}</h1>${detail && `<p>${escape(detail)}</p>`}<p><a href="/">Pay again</a></p></main></body></html>`;
}

function escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function send(res: ServerResponse, status: number, type: 'html' | 'json', body: string): void {
  res.writeHead(status, { 'content-type': type === 'html' ? 'text/html; charset=utf-8' : 'application/json', 'cache-control': 'no-store' });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let data = '';
  for await (const chunk of req) {
    data += chunk;
    if (data.length > 10_000) throw new SyntaxError('body too large');
  }
  return JSON.parse(data);
}

export async function startCheckoutExample(options: CheckoutExampleOptions): Promise<CheckoutExample> {
  const vault = createVaultClient({ url: options.vaultUrl, apiKey: options.secretKey });
  const vaultJs = `${(options.browserVaultUrl ?? options.vaultUrl).replace(/\/(graphql)?\/?$/, '')}/js/v1/vault.js`;
  // A merchant pastes the hash `npm run sdk:build` prints; this example, in the vault's repository, computes the
  // same one from the same sources (the browser refuses vault.js if the vault served other bytes).
  const { integrity } = (await loadSdk())['vault.js'];
  let origin = '';

  async function pay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req).catch(() => null);
    const token = (body as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || !/^tok_[0-9A-Za-z]{1,64}$/.test(token)) {
      send(res, 400, 'json', JSON.stringify({ error: 'Expected {"token":"tok_…"}' }));
      return;
    }
    const { createPayment } = await vault.request(CheckoutCreatePaymentDocument, {
      input: { amount: ORDER.amount, currency: ORDER.currency, token, returnUrl: `${origin}/return` },
    });
    if (createPayment.__typename !== 'CreatePaymentSuccess') {
      send(res, 422, 'json', JSON.stringify({ error: createPayment.message }));
      return;
    }
    const { payment } = createPayment;
    send(res, 200, 'json', JSON.stringify({ paymentId: payment.id, status: payment.status, redirectUrl: payment.redirectUrl }));
  }

  async function paymentResult(url: URL, res: ServerResponse): Promise<void> {
    const { payment } = await vault.request(CheckoutPaymentDocument, { id: url.searchParams.get('payment_id') ?? '' });
    if (!payment) send(res, 404, 'html', resultPage('Payment not found'));
    else send(res, 200, 'html', resultPage(`Payment ${payment.status}`, payment.failureMessage ?? ''));
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /':
        return send(res, 200, 'html', checkoutPage(vaultJs, integrity, options.publishableKey));
      case 'POST /pay':
        return pay(req, res);
      case 'GET /return':
        return paymentResult(url, res);
      default:
        return send(res, 404, 'html', resultPage('Not found'));
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    handle(req, res, url).catch((err: unknown) => {
      console.error('checkout example:', err instanceof Error ? err.message : err);
      if (res.headersSent) return;
      if (url.pathname === '/pay') send(res, 502, 'json', JSON.stringify({ error: 'The payment could not be processed' }));
      else send(res, 502, 'html', resultPage('The payment could not be looked up'));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('checkout example: no TCP address');
  origin = `http://127.0.0.1:${address.port}`;
  return {
    url: origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { VAULT_URL = DEFAULT_VAULT_URL, VAULT_SECRET_KEY, VAULT_PUBLISHABLE_KEY, CHECKOUT_PORT = '5000' } = process.env;
  if (!VAULT_SECRET_KEY?.startsWith('sk_') || !VAULT_PUBLISHABLE_KEY?.startsWith('pk_')) {
    console.error(
      [
        'Usage: VAULT_SECRET_KEY=sk_… VAULT_PUBLISHABLE_KEY=pk_… npm run example:checkout',
        '  VAULT_SECRET_KEY, VAULT_PUBLISHABLE_KEY  one merchant\'s keys (npm start prints the demo merchant\'s)',
        `  VAULT_URL      the vault's GraphQL endpoint (default ${DEFAULT_VAULT_URL}, where npm start listens)`,
        '  CHECKOUT_PORT  this example\'s port (default 5000)',
      ].join('\n'),
    );
    process.exit(1);
  }
  const example = await startCheckoutExample({
    vaultUrl: VAULT_URL,
    secretKey: VAULT_SECRET_KEY,
    publishableKey: VAULT_PUBLISHABLE_KEY,
    port: Number(CHECKOUT_PORT),
  });
  console.log(`Example checkout: ${example.url}  (vault: ${VAULT_URL})`);
  console.log(`Allow its origin first: npx vault merchant allow-origin --merchant mer_… --origin ${example.url}`);
  console.log('Then open it and pay with 4000 0025 0000 3155 (3-D Secure) or 4242 4242 4242 4242, any future expiry and CVC.');
}
