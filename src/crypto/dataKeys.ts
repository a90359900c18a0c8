import { randomBytes } from 'node:crypto';
import { DecryptionError, envelopeKeyId, open, seal } from './aead.js';
import type { MasterKeyRing } from './masterKeys.js';

// Per-merchant data keys, stored wrapped (sealed) under a master key. The wrapping AAD binds the merchant,
// the data key's id and its purpose, so a wrapped key copied to another merchant, row or purpose (say, an
// encryption key reused as a fingerprint key) fails to unwrap.

const KEY_BYTES = 32;

type DataKeyPurpose = 'ENCRYPTION' | 'FINGERPRINT';

export interface DataKeyParams {
  merchantId: string;
  dataKeyId: string;
  purpose: DataKeyPurpose;
}

export interface WrappedDataKey {
  masterKeyId: string;
  wrappedKey: string;
}

function wrapAad({ merchantId, dataKeyId, purpose }: DataKeyParams): string {
  return JSON.stringify(['vault/data-key/v1', merchantId, dataKeyId, purpose]);
}

export function generateDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Wraps under the ring's active master key. */
export function wrapDataKey(ring: MasterKeyRing, params: DataKeyParams, raw: Buffer): WrappedDataKey {
  if (raw.length !== KEY_BYTES) throw new RangeError(`Data keys must be ${KEY_BYTES} bytes, got ${raw.length}`);
  const { id, key } = ring.active;
  return { masterKeyId: id, wrappedKey: seal(key.reveal(), id, raw, wrapAad(params)) };
}

/** Unwraps with whichever master key (active or retired) the key was wrapped under. */
export function unwrapDataKey(ring: MasterKeyRing, params: DataKeyParams, wrapped: WrappedDataKey): Buffer {
  const { masterKeyId, wrappedKey } = wrapped;
  const master = ring.get(masterKeyId);
  if (!master) {
    throw new Error(
      `Master key "${masterKeyId}" (wrapping data key ${params.dataKeyId} of merchant ${params.merchantId}) ` +
        'is not in VAULT_MASTER_KEYS; add it back as a retired key',
    );
  }
  // The envelope names its master key too; the two disagreeing means the row was edited.
  if (envelopeKeyId(wrappedKey) !== masterKeyId) throw new DecryptionError('Wrapped key names another master key');
  const raw = open(wrappedKey, () => master.reveal(), wrapAad(params));
  if (raw.length !== KEY_BYTES) throw new DecryptionError('Unwrapped data key has the wrong length');
  return raw;
}

/** Moves a wrapped key to the ring's active master key (master key rotation). */
export function rewrapDataKey(ring: MasterKeyRing, params: DataKeyParams, wrapped: WrappedDataKey): WrappedDataKey {
  const raw = unwrapDataKey(ring, params, wrapped);
  try {
    return wrapDataKey(ring, params, raw);
  } finally {
    // The plaintext key is not needed past this point; do not leave it in memory.
    raw.fill(0);
  }
}
