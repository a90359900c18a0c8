import type { App } from '../../app/app.js';
import type { Plugin } from 'graphql-yoga';
import { completeChallenge, findChallenge } from '../../domain/payments/payments.js';
import type { CardView } from '../../domain/paymentMethods/paymentMethods.js';
import { NotFound } from '../../domain/shared/errors.js';
import { isWellFormedId } from '../../domain/shared/ids.js';
import { isBodyTooLarge } from '../plugins/limits.js';
import type { Payment } from '../../generated/prisma/client.js';
import { SANDBOX_CHALLENGE_PATH } from '../../integrations/connectors/sandbox.js';

// The sandbox connector's 3-D Secure challenge, served by the vault: GET shows the page, POST takes the
// customer's answer and sends them back to the merchant's returnUrl. The secret in the URL is the only
// credential; an unknown payment and a wrong secret both answer 404. The request log records the path
// without its query, so the secret stays out of the log.

const ROUTE = new RegExp(`^${SANDBOX_CHALLENGE_PATH}(pay_[0-9A-Za-z]{1,64})$`);
const TITLE = '3-D Secure challenge (sandbox)';
/** The answer form holds a payment id, its secret and the outcome (enforced while reading by useBodyLimit, src/http/plugins/limits.ts). */
export const CHALLENGE_MAX_BODY_BYTES = 4 * 1024;

export function useSandboxChallenge(app: App): Plugin {
  const { log } = app;
  return {
    // Synchronous for every other path (an async hook makes every request's pipeline wait a turn).
    onRequest({ request, url, endResponse }) {
      if (!url.pathname.startsWith(SANDBOX_CHALLENGE_PATH)) return;
      const routed = ROUTE.exec(url.pathname)?.[1];
      const paymentId = routed && isWellFormedId('pay', routed) ? routed : undefined;
      return (async () => {
        try {
          endResponse(paymentId ? await respond(app, request, url, paymentId) : notFound());
        } catch (err) {
          if (err instanceof NotFound) return endResponse(notFound());
          if (isBodyTooLarge(err)) return endResponse(html(413, messagePage('Too large', 'The form sent is too large.')));
          log.error({ err }, 'sandbox challenge failed');
          endResponse(html(500, messagePage('Something went wrong', 'The challenge could not be processed. Please try again.')));
        }
      })();
    },
  };
}

async function respond(app: App, request: Request, url: URL, paymentId: string): Promise<Response> {
  if (request.method === 'GET') {
    const secret = url.searchParams.get('secret') ?? '';
    const { payment, card } = await findChallenge(app, paymentId, secret);
    return html(200, payment.status === 'REQUIRES_ACTION' ? challengePage(payment, card, secret) : resultPage(payment));
  }
  if (request.method === 'POST') {
    const form = new URLSearchParams(await request.text());
    const outcome = form.get('outcome');
    if (outcome !== 'success' && outcome !== 'failure') {
      return html(400, messagePage('Bad request', 'The outcome must be success or failure.'));
    }
    const payment = await completeChallenge(app, paymentId, form.get('secret') ?? '', outcome);
    if (!payment.returnUrl) return html(200, resultPage(payment));
    return new Response(null, { status: 303, headers: { location: returnTo(payment.returnUrl, payment), 'cache-control': 'no-store' } });
  }
  return html(405, messagePage('Method not allowed', 'Use GET or POST.'), { allow: 'GET, POST' });
}

/** The merchant's returnUrl with the outcome appended. */
function returnTo(returnUrl: string, payment: Payment): string {
  const url = new URL(returnUrl);
  url.searchParams.set('payment_id', payment.id);
  url.searchParams.set('status', payment.status);
  return url.toString();
}

function notFound(): Response {
  return html(404, messagePage('Not found', 'This challenge does not exist, or its link is not valid.'));
}

function html(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // The page's own URL carries the secret: no referrer, no framing, nothing loaded from elsewhere.
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
      ...headers,
    },
  });
}

function challengePage(payment: Payment, card: CardView, secret: string): string {
  const button = (outcome: 'success' | 'failure', label: string) => `
      <form method="post" action="${escapeHtml(payment.id)}">
        <input type="hidden" name="secret" value="${escapeHtml(secret)}">
        <input type="hidden" name="outcome" value="${outcome}">
        <button type="submit" class="${outcome}">${label}</button>
      </form>`;
  return layout(`
    <p class="note">Test mode: no bank is involved. Choose how the authentication ends.</p>
    <dl>
      <dt>Amount</dt><dd>${escapeHtml(formatAmount(payment.amount, payment.currency))}</dd>
      <dt>Card</dt><dd>${escapeHtml(card.brand)} •••• ${escapeHtml(card.last4)} (${String(card.expMonth).padStart(2, '0')}/${card.expYear})</dd>
    </dl>
    <div class="actions">${button('success', 'Complete authentication')}${button('failure', 'Fail authentication')}
    </div>`);
}

function resultPage(payment: Payment): string {
  const text: Record<Payment['status'], string> = {
    COMPLETED: 'Authentication succeeded: the payment is completed.',
    AUTHORIZED: 'Authentication succeeded: the payment is authorized.',
    FAILED: 'Authentication failed: the payment failed.',
    CANCELLED: 'The payment was cancelled.',
    REQUIRES_ACTION: 'The payment is awaiting authentication.',
  };
  return layout(`<p>${text[payment.status]}</p><p class="note">Status: ${payment.status}</p>`);
}

function messagePage(heading: string, text: string): string {
  return layout(`<h2>${escapeHtml(heading)}</h2><p>${escapeHtml(text)}</p>`);
}

function layout(content: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${TITLE}</title>
  <style>
    body { font: 16px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1d2330; margin: 0; }
    main { max-width: 28rem; margin: 4rem auto; background: #fff; border-radius: 8px; padding: 2rem; box-shadow: 0 1px 4px #0002; }
    h1 { font-size: 1.25rem; margin-top: 0; }
    h2 { font-size: 1.1rem; }
    .note { color: #5b6475; font-size: .9rem; }
    dl { display: grid; grid-template-columns: auto 1fr; gap: .25rem 1rem; }
    dt { color: #5b6475; }
    dd { margin: 0; font-weight: 600; }
    .actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
    button { font: inherit; padding: .6rem 1rem; border-radius: 6px; border: 1px solid #c4c9d4; cursor: pointer; background: #fff; }
    button.success { background: #1f6feb; border-color: #1f6feb; color: #fff; }
  </style>
</head>
<body>
  <main>
    <h1>${TITLE}</h1>${content}
  </main>
</body>
</html>
`;
}

/** The amount in major units, with the currency's own number of decimals (JPY 0, USD 2, BHD 3). */
function formatAmount(amount: number, currency: string): string {
  const format = new Intl.NumberFormat('en', { style: 'currency', currency });
  return format.format(amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
