import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { createVaultClient, type VaultClient } from '../../src/client/index.js';
import { parseMasterKeys } from '../../src/crypto/masterKeys.js';
import { createDb, setDb, type Db } from '../../src/db/client.js';
import { createMerchant } from '../../src/domain/merchants.js';
import { luhnValid } from '../../src/validation/card.js';
import { TEST_MASTER_KEYS } from './env.js';

/** Opens the test database in this worker (for setting up merchants and inspecting stored rows). */
export function useDatabase(): () => Db {
  let db: Db | undefined;
  beforeAll(() => {
    db = createDb(inject('databaseUrl'), parseMasterKeys(TEST_MASTER_KEYS), { poolSize: 4 });
    setDb(db);
  });
  afterAll(async () => {
    setDb(undefined);
    await db?.disconnect();
  });
  return () => {
    if (!db) throw new Error('database not open yet');
    return db;
  };
}

export interface TestMerchant {
  merchantId: string;
  secretKey: string;
  publishableKey: string;
  client: VaultClient;
}

export async function newMerchant(name = `Test merchant ${randomBytes(3).toString('hex')}`): Promise<TestMerchant> {
  const m = await createMerchant({ name });
  return { ...m, client: clientFor(m.secretKey) };
}

export function clientFor(apiKey: string): VaultClient {
  return createVaultClient({ url: inject('graphqlUrl'), apiKey });
}

/** A raw GraphQL POST, for asserting HTTP status and error shapes the typed client hides. */
export async function rawGraphQL(
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const res = await fetch(inject('graphqlUrl'), {
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

/** Luhn check digit appended to a partial number: makes unique valid test cards. */
export function withLuhn(partial: string): string {
  const digit = [...'0123456789'].find((d) => luhnValid(partial + d));
  return partial + digit;
}

/** A fresh Luhn-valid Visa number, unique per call. */
export function uniqueVisa(): string {
  const body = `4${String(Date.now()).slice(-8)}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
  return withLuhn(body);
}


/** Narrows a result union to `typename`, failing with the whole result otherwise. */
export function success<T extends { __typename: string }, N extends T['__typename']>(result: T, typename: N): Extract<T, { __typename: N }> {
  if (result.__typename !== typename) throw new Error(`expected ${typename}, got ${JSON.stringify(result)}`);
  return result as Extract<T, { __typename: N }>;
}
