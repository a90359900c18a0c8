import { newId } from '../domain/shared/ids.js';
import { generateDataKey, unwrapDataKey, wrapDataKey } from './dataKeys.js';
import type { MasterKeyRing } from './masterKeys.js';
import { Secret } from './secret.js';
import type { DataKey, DataKeyPurpose, Mode, Prisma } from '../generated/prisma/client.js';

interface UsableKey {
  id: string;
  key: Secret<Buffer>;
}

export interface MerchantKeys {
  /** Encrypts new values. */
  encryption: UsableKey;
  /**
   * Keys fingerprints (HMAC), one per mode: equal cards give equal fingerprints within a merchant and mode,
   * and unrelated ones across modes, so a test key cannot compute fingerprints comparable with live ones.
   * A mode may lack its key only on a database upgraded but not yet through `upgradeFingerprintKeys`.
   */
  fingerprint: Partial<Record<Mode, UsableKey>>;
  /** Every encryption key of the merchant, active or retired, by id: retired keys still decrypt. */
  byId: Map<string, Secret<Buffer>>;
}

/** The part of a Prisma client (base, extended or transactional) the keyring uses. */
interface DataKeyStore {
  dataKey: {
    create(args: { data: Prisma.DataKeyUncheckedCreateInput }): PromiseLike<unknown>;
    findMany(args: { where: { merchantId: string }; orderBy: Prisma.DataKeyOrderByWithRelationInput[] }): PromiseLike<DataKey[]>;
  };
}

interface CacheEntry {
  keys: Promise<MerchantKeys>;
  loadedAt: number;
  refreshing?: boolean;
}

/**
 * Per-merchant data keys, unwrapped with the master key ring and cached in memory for `ttlMs` (default 30 s).
 * A miss on an unknown key id reloads at once, so rows another process encrypted under a new key open right
 * away; the TTL bounds how long this process keeps encrypting under a key that was retired elsewhere.
 */
export class Keyring {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly db: DataKeyStore,
    readonly master: MasterKeyRing,
    readonly ttlMs = 30_000,
  ) {}

  /**
   * Creates the merchant's encryption key and a fingerprint key per mode; call inside the merchant's
   * creating transaction.
   */
  async createMerchantKeys(tx: DataKeyStore, merchantId: string): Promise<void> {
    for (const [purpose, mode] of [
      ['ENCRYPTION', null],
      ['FINGERPRINT', 'LIVE'],
      ['FINGERPRINT', 'TEST'],
    ] as const) {
      const id = newId('dk');
      const wrapped = wrapDataKey(this.master, { merchantId, dataKeyId: id, purpose }, generateDataKey());
      await tx.dataKey.create({ data: { merchantId, id, purpose, mode, ...wrapped } });
    }
  }

  merchantKeys(merchantId: string): Promise<MerchantKeys> {
    const now = Date.now();
    const entry = this.cache.get(merchantId);
    if (entry && now - entry.loadedAt <= this.ttlMs) {
      // Refreshed ahead, in the background, once half the TTL has passed: a merchant in steady use never
      // waits for a reload, and in particular never inside a transaction (a reload there needs a second
      // pooled connection; with the pool full of transactions waiting for the same reload, none proceeds).
      if (now - entry.loadedAt > this.ttlMs / 2 && !entry.refreshing) this.refreshAhead(merchantId, entry, now);
      return entry.keys;
    }
    const fresh: CacheEntry = { keys: this.load(merchantId), loadedAt: now };
    this.cache.set(merchantId, fresh);
    fresh.keys.catch(() => {
      if (this.cache.get(merchantId) === fresh) this.cache.delete(merchantId);
    });
    return fresh.keys;
  }

  private refreshAhead(merchantId: string, entry: CacheEntry, startedAt: number): void {
    entry.refreshing = true;
    this.load(merchantId).then(
      (keys) => {
        // Aged from when the reload started, so no key is used longer than the TTL after it was read.
        if (this.cache.get(merchantId) === entry) this.cache.set(merchantId, { keys: Promise.resolve(keys), loadedAt: startedAt });
      },
      () => {
        entry.refreshing = false; // the next call tries again; the entry still expires at its TTL
      },
    );
  }

  /** The key for an envelope's key id, reloading once when it is not known yet. */
  async decryptionKey(merchantId: string, keyId: string): Promise<Secret<Buffer>> {
    let key = (await this.merchantKeys(merchantId)).byId.get(keyId);
    if (!key) {
      this.invalidate(merchantId);
      key = (await this.merchantKeys(merchantId)).byId.get(keyId);
    }
    if (!key) throw new Error(`Data key ${keyId} of merchant ${merchantId} is not available`);
    return key;
  }

  /**
   * The merchant's fingerprint key for a mode, reloading once when it is missing (another process may have
   * just created it: see upgradeFingerprintKeys); throws, naming the fix, on a database not yet upgraded.
   */
  async fingerprintKey(merchantId: string, mode: Mode): Promise<Secret<Buffer>> {
    let found = (await this.merchantKeys(merchantId)).fingerprint[mode];
    if (!found) {
      this.invalidate(merchantId);
      found = (await this.merchantKeys(merchantId)).fingerprint[mode];
    }
    if (!found) {
      throw new Error(
        `Merchant ${merchantId} has no ${mode} fingerprint key yet: run \`vault db migrate\` (or start the server) to create it`,
      );
    }
    return found.key;
  }

  invalidate(merchantId?: string): void {
    if (merchantId) this.cache.delete(merchantId);
    else this.cache.clear();
  }

  private async load(merchantId: string): Promise<MerchantKeys> {
    const rows = await this.db.dataKey.findMany({
      where: { merchantId },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    const byId = new Map<string, Secret<Buffer>>();
    let encryption: UsableKey | undefined;
    const fingerprint: Partial<Record<Mode, UsableKey>> = {};
    for (const row of rows) {
      if (!row.active && row.purpose === 'FINGERPRINT') continue;
      const key = new Secret(unwrapDataKey(this.master, { merchantId, dataKeyId: row.id, purpose: row.purpose }, row));
      // Oldest first: the newest active key of each purpose (and mode) wins (there is one, but be sure).
      if (row.purpose === 'ENCRYPTION') {
        byId.set(row.id, key);
        if (row.active) encryption = { id: row.id, key };
      } else if (row.mode) {
        fingerprint[row.mode] = { id: row.id, key };
      }
    }
    if (!encryption || !fingerprint.LIVE) {
      throw new Error(`Merchant ${merchantId} has no active data keys`);
    }
    return { encryption, fingerprint, byId };
  }
}

/** A master key that data keys were wrapped under is missing from VAULT_MASTER_KEYS, or does not unwrap them. */
export class MasterKeyMismatch extends Error {
  override name = 'MasterKeyMismatch';
}

/**
 * Proves the master key ring opens the database's data keys: for each master key id that wraps a data key,
 * one of them is unwrapped. A missing or wrong master key would otherwise let the server start and report
 * ready while every request needing a merchant's keys fails. Messages name the master key id, never material.
 */
export async function verifyMasterKeys(
  sql: <R extends Record<string, unknown>>(text: string, params: unknown[]) => Promise<R[]>,
  master: MasterKeyRing,
): Promise<void> {
  const rows = await sql<{ merchant_id: string; id: string; purpose: DataKeyPurpose; master_key_id: string; wrapped_key: string }>(
    `SELECT DISTINCT ON (master_key_id) merchant_id, id, purpose, master_key_id, wrapped_key
       FROM data_keys ORDER BY master_key_id, created_at DESC, id`,
    [],
  );
  for (const row of rows) {
    if (!master.get(row.master_key_id)) {
      throw new MasterKeyMismatch(
        `Master key "${row.master_key_id}" wraps data keys in the database but is not in VAULT_MASTER_KEYS (configured: ${master.ids.join(', ')}); add it back, as a retired key if another is active`,
      );
    }
    try {
      unwrapDataKey(
        master,
        { merchantId: row.merchant_id, dataKeyId: row.id, purpose: row.purpose },
        { masterKeyId: row.master_key_id, wrappedKey: row.wrapped_key },
      ).fill(0);
    } catch {
      throw new MasterKeyMismatch(
        `Master key "${row.master_key_id}" in VAULT_MASTER_KEYS does not unwrap the data keys wrapped under it (data key ${row.id}): wrong key for this id`,
      );
    }
  }
}
