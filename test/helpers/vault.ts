import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { createVaultClient, type VaultClient } from '../../packages/client/src/index.js';
import type { App } from '../../src/app/app.js';
import type { Db } from '../../src/db/client.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import type { Mode } from '../../src/generated/prisma/client.js';
import type { Principal } from '../../src/domain/shared/principal.js';
import { withLuhn } from './cards.js';
import { createTestApp } from './db.js';

// The app of this test file (built by useDatabase), for the helpers below that set up data through domain
// functions. Test-side only: the vault itself holds no such thing.
let fileApp: App | undefined;

/** The app useDatabase built for this test file. */
export function testApp(): App {
  if (!fileApp) throw new Error('no test app: call useDatabase() at the top of the file');
  return fileApp;
}

/**
 * Builds an app on the test database for this test file (setting up merchants, calling domain functions,
 * inspecting stored rows); returns its database.
 */
export function useDatabase(): () => Db {
  let app: App | undefined;
  beforeAll(async () => {
    app = await createTestApp(inject('databaseUrl'), {}, { DATABASE_POOL_SIZE: '4' });
    fileApp = app;
  });
  afterAll(async () => {
    if (fileApp === app) fileApp = undefined;
    await app?.stop();
  });
  return () => {
    if (!app) throw new Error('database not open yet');
    return app.db;
  };
}

export interface TestMerchant {
  merchantId: string;
  secretKey: string;
  publishableKey: string;
  defaultProfileId: string;
  client: VaultClient;
}

export async function newMerchant(name = `Test merchant ${randomBytes(3).toString('hex')}`): Promise<TestMerchant> {
  const m = await createMerchant(testApp(), { name });
  return { ...m, client: clientFor(m.secretKey) };
}

/**
 * The principal of a secret key of the merchant (test mode unless `mode` says), for calling domain functions
 * directly: records go in its default profile, or, with `profileScope`, the key acts in (and sees only) that
 * profile; `keyId` and `requestId` are what the audit trail records.
 */
export function principalOf(
  m: { merchantId: string; defaultProfileId: string },
  { profileScope, keyId = 'k', mode = 'TEST', requestId }: { profileScope?: string; keyId?: string; mode?: Mode; requestId?: string } = {},
): Principal {
  return {
    merchantId: m.merchantId,
    mode,
    keyId,
    kind: 'SECRET',
    profileId: profileScope ?? m.defaultProfileId,
    allowReveal: false,
    ...(profileScope && { profileScope }),
    ...(requestId && { requestId }),
  };
}

export function clientFor(apiKey: string): VaultClient {
  return createVaultClient({ url: inject('graphqlUrl'), apiKey });
}

export interface RawAnswer {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

/** A raw GraphQL POST, for asserting HTTP status and error shapes the typed client hides. */
export function rawGraphQL(body: unknown, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return postGraphQL(inject('graphqlUrl'), body, headers);
}

/** `rawGraphQL` against another server (one a test started with settings of its own). */
export async function postGraphQL(url: string, body: unknown, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

export { withLuhn } from './cards.js';

/** A fresh Luhn-valid Visa number, unique per call. */
export function uniqueVisa(): string {
  const body = `4${String(Date.now()).slice(-8)}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
  return withLuhn(body);
}

/** Narrows a result union to `typename`, failing with the whole result otherwise. */
export function success<T extends { __typename: string }, N extends T['__typename']>(
  result: T,
  typename: N,
): Extract<T, { __typename: N }> {
  if (result.__typename !== typename) throw new Error(`expected ${typename}, got ${JSON.stringify(result)}`);
  return result as Extract<T, { __typename: N }>;
}
