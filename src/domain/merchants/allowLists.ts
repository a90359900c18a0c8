import type { App } from '../../app/app.js';
import type { Tx } from '../../db/client.js';
import { Code, ValidationFailed } from '../shared/errors.js';
import { audited, operatorActor } from '../audit/audit.js';
import { requireMerchant } from './merchants.js';

// Per-merchant allow-lists, managed by the operator (CLI): the browser origins that may call the API (CORS,
// src/http/plugins/cors.ts) and the hosts forwardRequest may send card data to (src/domain/forward/forward.ts). Entries are stored
// normalized, so a check is one equality match on the primary key (merchant_id, entry); no cache, so a change
// applies from the next request on. Each change is audited (`merchant.allow_<noun>`, `merchant.disallow_<noun>`).

/** One list's table, as both Prisma models (merchant_id plus an entry column named `N`) answer it. */
interface ListTable<N extends string> {
  createMany(args: { data: ({ merchantId: string } & Record<N, string>)[]; skipDuplicates: true }): Promise<{ count: number }>;
  deleteMany(args: { where: { merchantId: string } & Record<N, string> }): Promise<{ count: number }>;
  findMany(args: { where: { merchantId: string }; orderBy?: Record<N, 'asc'>; select: Record<N, true> }): Promise<Record<N, string>[]>;
  findFirst(args: {
    where: { merchantId?: string } & Partial<Record<N, string>>;
    select: Record<N, true>;
  }): Promise<Record<N, string> | null>;
}

export interface AllowList {
  /** What an entry is: the field a refused entry is reported on, the CLI's option, the audit detail's key. */
  readonly noun: string;
  /** The list's form of an entry; a ValidationFailed (INVALID_INPUT) for anything that is not one. */
  normalize(value: string): string;
  /** Adds the entry (idempotent) and returns it normalized. */
  allow(app: App, merchantId: string, value: string): Promise<string>;
  /** Removes the entry; false when it was not on the list. */
  disallow(app: App, merchantId: string, value: string): Promise<boolean>;
  /** The merchant's entries, sorted. */
  list(app: App, merchantId: string): Promise<string[]>;
  /** The merchant's entries, read once for many checks. */
  entries(app: App, merchantId: string): Promise<Set<string>>;
  /** `entry` is compared as given (already normalized); the primary key answers. */
  includes(app: App, merchantId: string, entry: string): Promise<boolean>;
  /** On any merchant's list. */
  includedAnywhere(app: App, entry: string): Promise<boolean>;
}

function createAllowList<N extends string>(options: {
  noun: N;
  table: (client: Tx) => ListTable<N>;
  /** The entry's normal form, or undefined when `value` is not an entry. */
  parse: (value: string) => string | undefined;
  /** Why a value was refused, with an example. */
  invalid: string;
}): AllowList {
  const { noun, table, parse, invalid } = options;
  const tenant = (merchantId: string, entry: string) => ({ merchantId, [noun]: entry }) as { merchantId: string } & Record<N, string>;
  const select = { [noun]: true } as Record<N, true>;
  const audit = (verb: 'allow' | 'disallow', merchantId: string, entry: string) => ({
    action: `merchant.${verb}_${noun}`,
    entityType: 'merchant',
    entityId: merchantId,
    outcome: 'success' as const,
    detail: { [noun]: entry },
  });
  const normalize = (value: string): string => {
    const entry = parse(value);
    if (entry === undefined) throw ValidationFailed.single([noun], Code.INVALID_INPUT, invalid);
    return entry;
  };
  const read = (app: App, where: { merchantId?: string } & Partial<Record<N, string>>) => table(app.db.prisma).findFirst({ where, select });
  return {
    noun,
    normalize,
    async allow(app, merchantId, value) {
      const entry = normalize(value);
      await requireMerchant(app, merchantId);
      await audited(
        app,
        operatorActor(merchantId),
        (tx) => table(tx).createMany({ data: [tenant(merchantId, entry)], skipDuplicates: true }),
        ({ count }) => (count ? [audit('allow', merchantId, entry)] : []),
      );
      return entry;
    },
    async disallow(app, merchantId, value) {
      const entry = normalize(value);
      await requireMerchant(app, merchantId);
      const { count } = await audited(
        app,
        operatorActor(merchantId),
        (tx) => table(tx).deleteMany({ where: tenant(merchantId, entry) }),
        ({ count: n }) => (n ? [audit('disallow', merchantId, entry)] : []),
      );
      return count > 0;
    },
    async list(app, merchantId) {
      await requireMerchant(app, merchantId);
      const rows = await table(app.db.prisma).findMany({ where: { merchantId }, orderBy: { [noun]: 'asc' } as Record<N, 'asc'>, select });
      return rows.map((r) => r[noun]);
    },
    async entries(app, merchantId) {
      const rows = await table(app.db.prisma).findMany({ where: { merchantId }, select });
      return new Set(rows.map((r) => r[noun]));
    },
    async includes(app, merchantId, entry) {
      return (await read(app, tenant(merchantId, entry))) !== null;
    },
    async includedAnywhere(app, entry) {
      return (await read(app, { [noun]: entry } as Partial<Record<N, string>>)) !== null;
    },
  };
}

/** Browser origins allowed to call the API with the merchant's keys, stored exactly as browsers send Origin. */
export const origins = createAllowList({
  noun: 'origin',
  table: (client) => client.merchantOrigin,
  parse: normalOrigin,
  invalid: 'Origin must be scheme://host[:port] (http or https) with no path, query or fragment, e.g. https://shop.example',
});

/**
 * Hosts forwardRequest may send the merchant's card data to: a host name or IP, with a port when it is not
 * the scheme's default (`api.psp.example`, `127.0.0.1:8443`).
 */
export const forwardHosts = createAllowList({
  noun: 'host',
  table: (client) => client.merchantForwardHost,
  parse: normalHost,
  invalid: 'Host must be a host name or IP address with an optional :port, e.g. api.psp.example or 127.0.0.1:8443',
});

/** `scheme://host[:port]`, http or https, lower-case, default port dropped; anything else is refused. */
function normalOrigin(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return undefined;
  }
  // href keeps whatever URL.origin drops: credentials, path, an empty "?" or "#".
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.href !== `${url.origin}/`) return undefined;
  return url.origin;
}

/** Host name lower case (IDNA applied), port as given without leading zeros. */
function normalHost(value: string): string | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]\s]+)(?::(\d{1,5}))?$/.exec(value.trim());
  const port = match?.[2] === undefined ? undefined : Number(match[2]);
  let hostname: string | undefined;
  try {
    hostname = match ? new URL(`https://${match[1]}`).hostname : undefined;
  } catch {
    hostname = undefined;
  }
  if (!hostname || (port !== undefined && (port < 1 || port > 65535))) return undefined;
  return port === undefined ? hostname : `${hostname}:${port}`;
}

/**
 * The forwarding-list entries that allow a URL: `host:port` always, and the bare host when the port is the
 * scheme's default (a bare entry means "the default port of http or https").
 */
export function entriesAllowing(url: URL): string[] {
  const withPort = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  return url.port === '' ? [url.hostname, withPort] : [withPort];
}
