import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';
import type { MasterKeyRing } from '../crypto/masterKeys.js';
import { encryptionExtension } from './encryption.js';
import { Keyring } from './keyring.js';

export function createDb(databaseUrl: string, master: MasterKeyRing, poolSize = 10) {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: poolSize });
  const base = new PrismaClient({ adapter });
  const keyring = new Keyring(base, master);
  const prisma = base.$extends(encryptionExtension(keyring));
  return { prisma, keyring, disconnect: () => base.$disconnect() };
}

export type Db = ReturnType<typeof createDb>;
export type Prisma = Db['prisma'];
/** The client inside `prisma.$transaction(async (tx) => …)`. */
export type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

// The process-wide database, set once at start-up (server or CLI). Domain functions take it from here
// rather than from the GraphQL context, so the same functions serve the CLI and the API.
let current: Db | undefined;

export function setDb(db: Db | undefined): void {
  current = db;
}

export function db(): Db {
  if (!current) throw new Error('Database not initialised');
  return current;
}
