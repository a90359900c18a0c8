import type { App } from '../app/app.js';
import { ValidationFailed } from '../errors.js';
import { audited, operatorActor } from './audit.js';
import { requireMerchant } from './merchants.js';

// Hosts forwardRequest may send card data to, per merchant, managed by the operator (CLI). An entry is a
// host name or IP, with a port when it is not the scheme's default: `api.psp.example`, `127.0.0.1:8443`.

const INVALID = 'Host must be a host name or IP address with an optional :port, e.g. api.psp.example or 127.0.0.1:8443';

/** The list's form of a host: host name lower case (IDNA applied), port as given without leading zeros. */
export function normalizeHost(value: string): string {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]\s]+)(?::(\d{1,5}))?$/.exec(value.trim());
  const port = match?.[2] === undefined ? undefined : Number(match[2]);
  let hostname: string | undefined;
  try {
    hostname = match ? new URL(`https://${match[1]}`).hostname : undefined;
  } catch {
    hostname = undefined;
  }
  if (!hostname || (port !== undefined && (port < 1 || port > 65535))) {
    throw ValidationFailed.single(['host'], 'INVALID_INPUT', INVALID);
  }
  return port === undefined ? hostname : `${hostname}:${port}`;
}

/**
 * The list entries that allow a URL: `host:port` always, and the bare host when the port is the scheme's
 * default (a bare entry means "the default port of http or https").
 */
export function entriesAllowing(url: URL): string[] {
  const withPort = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  return url.port === '' ? [url.hostname, withPort] : [withPort];
}

export async function allowHost(app: App, merchantId: string, host: string): Promise<string> {
  const normalized = normalizeHost(host);
  await requireMerchant(app, merchantId);
  await audited(app, 
    operatorActor(merchantId),
    (tx) => tx.merchantForwardHost.createMany({ data: [{ merchantId, host: normalized }], skipDuplicates: true }),
    ({ count }) => (count ? [{ action: 'merchant.allow_host', entityType: 'merchant', entityId: merchantId, outcome: 'success', detail: { host: normalized } }] : []),
  );
  return normalized;
}

export async function disallowHost(app: App, merchantId: string, host: string): Promise<boolean> {
  const normalized = normalizeHost(host);
  await requireMerchant(app, merchantId);
  const { count } = await audited(app, 
    operatorActor(merchantId),
    (tx) => tx.merchantForwardHost.deleteMany({ where: { merchantId, host: normalized } }),
    ({ count: n }) => (n ? [{ action: 'merchant.disallow_host', entityType: 'merchant', entityId: merchantId, outcome: 'success', detail: { host: normalized } }] : []),
  );
  return count > 0;
}

export async function listHosts(app: App, merchantId: string): Promise<string[]> {
  await requireMerchant(app, merchantId);
  const rows = await app.db.prisma.merchantForwardHost.findMany({ where: { merchantId }, orderBy: { host: 'asc' }, select: { host: true } });
  return rows.map((r) => r.host);
}

/** The merchant's list, read once per forward (redirects are checked against it too). */
export async function allowedHosts(app: App, merchantId: string): Promise<Set<string>> {
  const rows = await app.db.prisma.merchantForwardHost.findMany({ where: { merchantId }, select: { host: true } });
  return new Set(rows.map((r) => r.host));
}
