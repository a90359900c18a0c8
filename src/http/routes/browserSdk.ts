import { randomBytes } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { App } from '../../app/app.js';
import { authenticate } from '../../domain/merchants/apiKeys.js';
import { origins } from '../../domain/merchants/allowLists.js';
import { loadSdk, type SdkScriptName, type SdkScripts } from './sdkBundles.js';

// The browser SDK, served by the vault under a versioned path:
//   GET /js/v1/vault.js     the script merchants' pages load (global `Vault`); public, cacheable, any origin
//   GET /js/v1/fields.js    the hosted fields' iframe script
//   GET /js/v1/fields.html  the hosted fields' iframe page, ?key=pk_…&origin=<the page's origin>
// The iframe page may be framed only by the publishable key's merchant's allowed origins (CSP frame-ancestors,
// read per request: a change to `merchant allow-origin` applies at once), and loads nothing but its own script.

const SDK_PATH = '/js/v1/';

/** One bundle per process (built on first use from the sources, or read from dist/sdk when compiled). */
const loaded = new WeakMap<App, Promise<SdkScripts>>();

function sdk(app: App): Promise<SdkScripts> {
  let scripts = loaded.get(app);
  if (!scripts) {
    scripts = loadSdk();
    scripts.catch(() => loaded.delete(app));
    loaded.set(app, scripts);
  }
  return scripts;
}

export function useBrowserSdk(app: App): Plugin {
  const { log } = app;
  return {
    // Synchronous for every other path (an async hook makes every request's pipeline wait a turn).
    onRequest({ request, url, endResponse }) {
      if (!url.pathname.startsWith(SDK_PATH)) return;
      return (async () => {
        try {
          endResponse(await respond(app, request, url));
        } catch (err) {
          log.error({ err }, 'browser SDK request failed');
          endResponse(new Response('Internal server error', { status: 500, headers: { 'cache-control': 'no-store' } }));
        }
      })();
    },
  };
}

async function respond(app: App, request: Request, url: URL): Promise<Response> {
  const name = url.pathname.slice(SDK_PATH.length);
  if (name !== 'vault.js' && name !== 'fields.js' && name !== 'fields.html') {
    return new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response('Method not allowed', { status: 405, headers: { allow: 'GET, HEAD' } });
  }
  const scripts = await sdk(app);
  if (name === 'fields.html') return fieldsPage(app, url, scripts);
  return script(request, name, scripts);
}

/**
 * A script: the bytes the integrity hash was computed over, never transformed (no compression here: a proxy in
 * front may gzip; the browser checks the decoded bytes). Cached an hour and revalidated by ETag (the hash): the
 * path is versioned by API (v1), not by release, so a vault upgrade may change the file.
 */
function script(request: Request, name: SdkScriptName, scripts: SdkScripts): Response {
  const { body, integrity } = scripts[name];
  const etag = `"${integrity}"`;
  const headers: Record<string, string> = {
    'content-type': 'text/javascript; charset=utf-8',
    'cache-control': 'public, max-age=3600',
    etag,
    'x-content-type-options': 'nosniff',
    // A public script: any page may load it, and reading it cross-origin (crossorigin="anonymous") is what lets
    // the browser check its integrity attribute.
    'access-control-allow-origin': '*',
    'cross-origin-resource-policy': 'cross-origin',
  };
  if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
  return new Response(request.method === 'HEAD' ? null : body, {
    status: 200,
    headers: { ...headers, 'content-length': String(body.byteLength) },
  });
}

/** The merchant's allowed origins for a publishable key, or undefined for anything that is not an active one. */
async function allowedOrigins(app: App, key: string): Promise<Set<string> | undefined> {
  if (!/^pk_(test|live)_[0-9A-Za-z]{43}$/.test(key)) return undefined;
  const principal = await authenticate(app, key);
  if (principal?.kind !== 'PUBLISHABLE') return undefined;
  return origins.entries(app, principal.merchantId);
}

async function fieldsPage(app: App, url: URL, scripts: SdkScripts): Promise<Response> {
  const key = url.searchParams.get('key') ?? '';
  const parent = url.searchParams.get('origin') ?? '';
  const allowed = await allowedOrigins(app, key);
  if (!allowed?.has(parent)) {
    // Nobody may frame a refusal either; the page says why to whoever opens it directly.
    return page(
      403,
      "frame-ancestors 'none'",
      '',
      `<p>${allowed ? 'This origin is not allowed for this key (npx vault merchant allow-origin).' : 'Unknown publishable key.'}</p>`,
    );
  }
  // Origins are stored normalized (scheme://host[:port]), which is exactly a CSP source expression.
  return page(200, `frame-ancestors ${[...allowed].sort().join(' ')}`, scripts['fields.js'].integrity, '');
}

function page(status: number, frameAncestors: string, integrity: string, content: string): Response {
  const nonce = randomBytes(16).toString('base64');
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    frameAncestors,
  ].join('; ');
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Card details</title>
<style nonce="${nonce}">${FIELDS_CSS}</style>
${integrity ? `<script src="fields.js" integrity="${integrity}" defer></script>` : ''}
</head>
<body>${content}</body>
</html>
`;
  return new Response(body, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': csp,
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'cross-origin-opener-policy': 'same-origin',
    },
  });
}

const FIELDS_CSS = `
html, body { margin: 0; padding: 0; background: transparent; }
body { font: 16px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; }
.row { display: flex; align-items: center; gap: 8px; padding: 8px 10px; border: 1px solid #c4c9d4; border-radius: 6px; background: #fff; }
.row:focus-within { border-color: #1f6feb; box-shadow: 0 0 0 2px #1f6feb33; }
.cell.number { flex: 1 1 auto; min-width: 9em; }
.cell.expiry { flex: 0 0 5.2em; }
.cell.cvc { flex: 0 0 3.6em; }
input { width: 100%; box-sizing: border-box; border: 0; outline: 0; padding: 2px 0; margin: 0; background: transparent; font: inherit; color: inherit; }
input::placeholder { color: #8a93a6; }
input.invalid { color: #c62828; }
.brand { font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: #5b6475; min-width: 0; }
.brand:empty { display: none; }
.message { min-height: 0; padding: 4px 2px 0; font-size: 13px; color: #c62828; }
.message:empty { display: none; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;
