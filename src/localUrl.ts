// How this process reaches its own HTTP server (set once it listens): for requests the vault makes to
// itself, such as the sandbox token service provider delivering a webhook. Never taken from a request's Host
// header, which the caller controls.

let current: string | undefined;

export function setLocalUrl(url: string | undefined): void {
  current = url;
}

export function localUrl(): string {
  if (!current) throw new Error('The HTTP server is not listening yet');
  return current;
}

/** A URL for connecting to an address the server listens on (wildcard addresses become loopback). */
export function connectableUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}
