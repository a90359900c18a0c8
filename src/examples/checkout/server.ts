import { createServer, type IncomingMessage } from 'node:http';
import { CreatePaymentDocument, PaymentDocument, createVaultClient } from '../../client/index.js';

// A tiny merchant: it serves a checkout page on its own origin, the page tokenizes the card directly at the
// vault with the publishable key (the number never touches this server), and this backend pays with the
// token using the secret key, which never leaves it.

export interface CheckoutExampleOptions {
  vaultUrl: string;
  secretKey: string;
  publishableKey: string;
  port?: number;
}

const html = (body: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Example checkout</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto}label{display:block;margin:.6rem 0}
input{display:block;width:100%;padding:.4rem;font:inherit}button{margin-top:1rem;padding:.5rem 1rem;font:inherit}</style>
</head><body>${body}</body></html>`;

function page(vaultUrl: string, publishableKey: string): string {
  return html(`<h1>Pay €19.99</h1>
<form id="pay">
  <label>Card number <input name="number" autocomplete="cc-number" inputmode="numeric" required></label>
  <label>Expiry month <input name="expMonth" inputmode="numeric" required></label>
  <label>Expiry year <input name="expYear" inputmode="numeric" required></label>
  <label>CVC <input name="cvc" autocomplete="cc-csc" inputmode="numeric" required></label>
  <button type="submit">Pay</button>
</form>
<p id="status" role="status"></p>
<script>
const VAULT = ${JSON.stringify(vaultUrl)}, KEY = ${JSON.stringify(publishableKey)};
const status = document.getElementById('status');
document.getElementById('pay').addEventListener('submit', async (event) => {
  event.preventDefault();
  const f = new FormData(event.target);
  status.textContent = 'Processing…';
  const res = await fetch(VAULT, { method: 'POST', headers: { 'content-type': 'application/json', 'api-key': KEY },
    body: JSON.stringify({ query: 'mutation($input: CreateCardTokenInput!) { createCardToken(input: $input) { __typename ... on CreateCardTokenSuccess { token { id } } ... on Error { message } } }',
      variables: { input: { card: { number: f.get('number'), expMonth: Number(f.get('expMonth')), expYear: Number(f.get('expYear')), cvc: f.get('cvc') } } } }) });
  const result = (await res.json()).data?.createCardToken;
  if (result?.__typename !== 'CreateCardTokenSuccess') { status.textContent = 'Card refused: ' + (result?.message ?? res.status); return; }
  const paid = await (await fetch('/pay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: result.token.id }) })).json();
  if (paid.redirectUrl) location.href = paid.redirectUrl; else location.href = '/return?payment_id=' + encodeURIComponent(paid.paymentId);
});
</script>`);
}

async function body(req: IncomingMessage): Promise<string> {
  let data = '';
  for await (const chunk of req) data += chunk;
  return data;
}

export async function startCheckoutExample(options: CheckoutExampleOptions): Promise<{ url: string; close(): Promise<void> }> {
  const vault = createVaultClient({ url: options.vaultUrl, apiKey: options.secretKey });
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://merchant.local');
    try {
      if (req.method === 'GET' && url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(options.vaultUrl, options.publishableKey));
      } else if (req.method === 'POST' && url.pathname === '/pay') {
        const { token } = JSON.parse(await body(req)) as { token: string };
        const returnUrl = `http://${req.headers.host}/return`;
        const { createPayment } = await vault.request(CreatePaymentDocument, { input: { amount: 1999, currency: 'EUR', token, returnUrl } });
        if (createPayment.__typename !== 'CreatePaymentSuccess') {
          res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ error: createPayment.message }));
          return;
        }
        const { payment } = createPayment;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ paymentId: payment.id, redirectUrl: payment.redirectUrl }));
      } else if (req.method === 'GET' && url.pathname === '/return') {
        const id = url.searchParams.get('payment_id') ?? '';
        const { payment } = await vault.request(PaymentDocument, { id });
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
          html(`<h1 id="result">Payment ${payment ? payment.status : 'not found'}</h1><p><a href="/">Pay again</a></p>`),
        );
      } else {
        res.writeHead(404).end();
      }
    } catch {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('The payment could not be processed');
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { VAULT_URL = 'http://127.0.0.1:4000/graphql', VAULT_SECRET_KEY, VAULT_PUBLISHABLE_KEY, PORT = '5000' } = process.env;
  if (!VAULT_SECRET_KEY || !VAULT_PUBLISHABLE_KEY) {
    console.error('Set VAULT_SECRET_KEY and VAULT_PUBLISHABLE_KEY (the demo merchant keys printed by npm start).');
    process.exit(1);
  }
  const example = await startCheckoutExample({ vaultUrl: VAULT_URL, secretKey: VAULT_SECRET_KEY, publishableKey: VAULT_PUBLISHABLE_KEY, port: Number(PORT) });
  console.log(`Example checkout: ${example.url}`);
  console.log(`Allow its origin first: npm run vault -- merchant allow-origin --merchant <merchantId> --origin ${example.url}`);
}
