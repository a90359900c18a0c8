import { config } from './config.js';

// How this process reaches its own HTTP server (set once it listens): for requests the vault makes to
// itself, such as the sandbox token service provider delivering a webhook, and for the URLs it hands out
// when VAULT_PUBLIC_URL is unset. Never taken from a request's Host header (or the URL yoga builds from it),
// which the caller controls: a forged Host would put a challenge's secret in a link to the caller's host, or
// make a page on the caller's origin look same-origin.

let current: { url: string; origins: ReadonlySet<string> } | undefined;

/** Records the address the server listens on (host as configured, port as bound). */
export function setListenAddress(host: string, port: number): void {
  current = { url: connectableUrl(host, port), origins: listenOrigins(host, port) };
}

export function clearListenAddress(): void {
  current = undefined;
}

export function localUrl(): string {
  if (!current) throw new Error('The HTTP server is not listening yet');
  return current.url;
}

/** Where the vault is reached from outside: VAULT_PUBLIC_URL (behind a proxy), else its own listen address. */
export function publicBaseUrl(): string {
  return config().VAULT_PUBLIC_URL ?? localUrl();
}

/**
 * The vault's own origins, for the same-origin check (GraphiQL is served from them): VAULT_PUBLIC_URL's, and
 * the listen address's. A browser sends one of these as Origin only from a page the vault itself served.
 */
export function isOwnOrigin(origin: string): boolean {
  const publicUrl = config().VAULT_PUBLIC_URL;
  if (publicUrl && origin === new URL(publicUrl).origin) return true;
  return current?.origins.has(origin) ?? false;
}

/** A URL for connecting to an address the server listens on (wildcard addresses become loopback). */
export function connectableUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

/** Origins of pages served from this listener: its own host, and the loopback names when it listens on them. */
function listenOrigins(host: string, port: number): ReadonlySet<string> {
  const hosts = new Set([host]);
  if (LOOPBACK.includes(host) || host === '0.0.0.0' || host === '::') for (const h of LOOPBACK) hosts.add(h);
  return new Set([...hosts].filter((h) => h !== '0.0.0.0' && h !== '::').map((h) => new URL(`http://${h.includes(':') ? `[${h}]` : h}:${port}`).origin));
}
