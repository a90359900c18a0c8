// How this process reaches its own HTTP server (known once it listens): for requests the vault makes to
// itself, such as the sandbox token service provider delivering a webhook, and for the URLs it hands out
// when VAULT_PUBLIC_URL is unset. Never taken from a request's Host header (or the URL yoga builds from it),
// which the caller controls: a forged Host would put a challenge's secret in a link to the caller's host, or
// make a page on the caller's origin look same-origin.

export interface AppUrls {
  /** Records the address the server listens on (host as configured, port as bound). */
  listening(host: string, port: number): void;
  /** How this process reaches its own server; throws before it listens. */
  local(): string;
  /** Where the vault is reached from outside: VAULT_PUBLIC_URL (behind a proxy), else its own listen address. */
  public(): string;
  /**
   * The vault's own origins, for the same-origin check (GraphiQL is served from them): VAULT_PUBLIC_URL's, and
   * the listen address's. A browser sends one of these as Origin only from a page the vault itself served.
   */
  isOwnOrigin(origin: string): boolean;
}

/** One app's addresses: VAULT_PUBLIC_URL if configured, and the listen address once `listening` is called. */
export function createAppUrls(publicUrl: string | undefined): AppUrls {
  const publicOrigin = publicUrl === undefined ? undefined : new URL(publicUrl).origin;
  let listen: { url: string; origins: ReadonlySet<string> } | undefined;
  const local = (): string => {
    if (!listen) throw new Error('The HTTP server is not listening yet');
    return listen.url;
  };
  return {
    listening(host, port) {
      listen = { url: connectableUrl(host, port), origins: listenOrigins(host, port) };
    },
    local,
    public: () => publicUrl ?? local(),
    isOwnOrigin: (origin) => origin === publicOrigin || (listen?.origins.has(origin) ?? false),
  };
}

/** A URL for connecting to an address the server listens on (wildcard addresses become loopback). */
function connectableUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

/** Origins of pages served from this listener: its own host, and the loopback names when it listens on them. */
function listenOrigins(host: string, port: number): ReadonlySet<string> {
  const hosts = new Set([host]);
  if (LOOPBACK.includes(host) || host === '0.0.0.0' || host === '::') for (const h of LOOPBACK) hosts.add(h);
  return new Set(
    [...hosts].filter((h) => h !== '0.0.0.0' && h !== '::').map((h) => new URL(`http://${h.includes(':') ? `[${h}]` : h}:${port}`).origin),
  );
}
