import { db } from '../db/client.js';
import { NotFound, ValidationFailed } from '../errors.js';

/**
 * Browser origins allowed to call the API for a merchant: `scheme://host[:port]`, http or https, lower-case,
 * default port dropped. Anything with a path, query, credentials or fragment is refused.
 */
export function normalizeOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw ValidationFailed.single(['origin'], 'INVALID_INPUT', 'Origin must look like https://shop.example or http://localhost:3000');
  }
  const bare = (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash && !url.username && !url.password;
  if (!['http:', 'https:'].includes(url.protocol) || !bare) {
    throw ValidationFailed.single(['origin'], 'INVALID_INPUT', 'Origin must be scheme://host[:port] with no path, query or fragment');
  }
  return url.origin;
}

async function requireMerchant(merchantId: string): Promise<void> {
  const found = await db().prisma.merchant.findUnique({ where: { id: merchantId }, select: { id: true } });
  if (!found) throw new NotFound('merchant', merchantId);
}

export async function allowOrigin(merchantId: string, origin: string): Promise<string> {
  const normalized = normalizeOrigin(origin);
  await requireMerchant(merchantId);
  await db().prisma.merchantOrigin.createMany({ data: [{ merchantId, origin: normalized }], skipDuplicates: true });
  return normalized;
}

export async function disallowOrigin(merchantId: string, origin: string): Promise<boolean> {
  const { count } = await db().prisma.merchantOrigin.deleteMany({ where: { merchantId, origin: normalizeOrigin(origin) } });
  return count > 0;
}

export async function listOrigins(merchantId: string): Promise<string[]> {
  await requireMerchant(merchantId);
  const rows = await db().prisma.merchantOrigin.findMany({ where: { merchantId }, orderBy: { origin: 'asc' } });
  return rows.map((r) => r.origin);
}

/** Is the origin allowed for this merchant (or, without one, for any merchant: preflights carry no key)? */
export async function isOriginAllowed(origin: string, merchantId?: string): Promise<boolean> {
  const row = await db().prisma.merchantOrigin.findFirst({
    where: { origin, ...(merchantId && { merchantId }) },
    select: { origin: true },
  });
  return row !== null;
}
