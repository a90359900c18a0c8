import type { App } from '../app/app.js';
import { ValidationFailed } from '../errors.js';
import { audited, operatorActor } from './audit.js';
import { requireMerchant } from './merchants.js';

// Browser origins allowed to call the API for a merchant (CORS, src/cors.ts). Stored normalized, exactly as
// browsers send the Origin header, so a check is one equality match on an index; no cache, so allowing or
// disallowing an origin applies from the next request on.

const INVALID = 'Origin must be scheme://host[:port] (http or https) with no path, query or fragment, e.g. https://shop.example';

/** `scheme://host[:port]`, http or https, lower-case, default port dropped; anything else is refused. */
export function normalizeOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw ValidationFailed.single(['origin'], 'INVALID_INPUT', INVALID);
  }
  // href keeps whatever URL.origin drops: credentials, path, an empty "?" or "#".
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.href !== `${url.origin}/`) {
    throw ValidationFailed.single(['origin'], 'INVALID_INPUT', INVALID);
  }
  return url.origin;
}

/** Adds the origin (idempotent) and returns it normalized. */
export async function allowOrigin(app: App, merchantId: string, origin: string): Promise<string> {
  const normalized = normalizeOrigin(origin);
  await requireMerchant(app, merchantId);
  await audited(app, 
    operatorActor(merchantId),
    (tx) => tx.merchantOrigin.createMany({ data: [{ merchantId, origin: normalized }], skipDuplicates: true }),
    ({ count }) => (count ? [{ action: 'merchant.allow_origin', entityType: 'merchant', entityId: merchantId, outcome: 'success', detail: { origin: normalized } }] : []),
  );
  return normalized;
}

/** Removes the origin; false when it was not on the list. */
export async function disallowOrigin(app: App, merchantId: string, origin: string): Promise<boolean> {
  const normalized = normalizeOrigin(origin);
  await requireMerchant(app, merchantId);
  const { count } = await audited(app, 
    operatorActor(merchantId),
    (tx) => tx.merchantOrigin.deleteMany({ where: { merchantId, origin: normalized } }),
    ({ count: n }) => (n ? [{ action: 'merchant.disallow_origin', entityType: 'merchant', entityId: merchantId, outcome: 'success', detail: { origin: normalized } }] : []),
  );
  return count > 0;
}

export async function listOrigins(app: App, merchantId: string): Promise<string[]> {
  await requireMerchant(app, merchantId);
  const rows = await app.db.prisma.merchantOrigin.findMany({ where: { merchantId }, orderBy: { origin: 'asc' }, select: { origin: true } });
  return rows.map((r) => r.origin);
}

/** `origin` is compared as sent (browsers send it normalized); the primary key (merchant_id, origin) answers. */
export async function isOriginAllowed(app: App, merchantId: string, origin: string): Promise<boolean> {
  const row = await app.db.prisma.merchantOrigin.findUnique({ where: { merchantId_origin: { merchantId, origin } }, select: { origin: true } });
  return row !== null;
}

/** On any merchant's list: what a preflight, which carries no api key, can be answered on. */
export async function isOriginKnown(app: App, origin: string): Promise<boolean> {
  const row = await app.db.prisma.merchantOrigin.findFirst({ where: { origin }, select: { origin: true } });
  return row !== null;
}
