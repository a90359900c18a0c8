import { randomBytes } from 'node:crypto';
import { Secret } from './secret.js';

// Master keys come from VAULT_MASTER_KEYS as comma-separated `id:base64` entries. The first entry is the
// active key (wraps new data keys); the others are retired and only unwrap keys wrapped under them, which
// is what lets an operator rotate the master key without re-wrapping everything at once.

const ENV = 'VAULT_MASTER_KEYS';
const KEY_BYTES = 32;
// Master key ids end up in envelope headers, so they follow the envelope key id alphabet.
const ID = /^[A-Za-z0-9_-]+$/;

export interface MasterKeyRing {
  active: { id: string; key: Secret<Buffer> };
  get(id: string): Secret<Buffer> | undefined;
  ids: string[];
}

// Error messages name entries by position and, once validated, by id; they never repeat key material.
function invalid(problem: string): Error {
  return new Error(`Invalid ${ENV}: ${problem} (expected comma-separated id:base64 entries of ${KEY_BYTES}-byte keys)`);
}

/** Decodes standard or url-safe base64, padded or not; throws unless it is canonical and 32 bytes. */
function decodeKey(text: string, where: string): Buffer {
  const normalized = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+$/.test(normalized)) throw invalid(`${where} is not valid base64`);
  const key = Buffer.from(normalized, 'base64');
  if (key.length !== KEY_BYTES) throw invalid(`${where} decodes to ${key.length} bytes, not ${KEY_BYTES}`);
  if (key.toString('base64').replace(/=+$/, '') !== normalized) throw invalid(`${where} is not valid base64`);
  return key;
}

export function parseMasterKeys(value: string): MasterKeyRing {
  if (value.trim() === '') throw invalid('it is empty');
  const keys = new Map<string, Secret<Buffer>>();
  const entries = value.split(',').map((raw, index) => {
    const entry = raw.trim();
    const position = `entry ${index + 1}`;
    if (entry === '') throw invalid(`${position} is empty`);
    const colon = entry.indexOf(':');
    if (colon < 0) throw invalid(`${position} has no ':' between id and key`);
    const id = entry.slice(0, colon);
    if (!ID.test(id)) throw invalid(`${position} has an id that does not match [A-Za-z0-9_-]+`);
    if (keys.has(id)) throw invalid(`master key id "${id}" appears more than once`);
    const key = new Secret(decodeKey(entry.slice(colon + 1), `the key of "${id}"`));
    keys.set(id, key);
    return { id, key };
  });
  const [active] = entries;
  if (!active) throw invalid('it is empty');
  return { active, get: (id) => keys.get(id), ids: [...keys.keys()] };
}

/**
 * No master key at all: for what reads no encrypted data (`audit verify`, run by an auditor who must not hold
 * the keys). Wrapping or unwrapping a data key with it fails loudly instead of generating a key.
 */
export const NO_MASTER_KEYS: MasterKeyRing = {
  get active(): never {
    throw new Error('No master key is loaded: this command reads no encrypted data');
  },
  get: () => undefined,
  ids: [],
};

/** `id:base64` of a fresh random 32-byte key, in the format parseMasterKeys reads. */
export function generateMasterKeyString(id: string): string {
  if (!ID.test(id)) throw new Error('Master key id must match [A-Za-z0-9_-]+');
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}
