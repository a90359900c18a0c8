import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

// The key that signs audit checkpoints (src/domain/audit/checkpoint.ts): VAULT_AUDIT_SIGNING_KEY as
// `id:base64`, the base64 being a 32-byte Ed25519 seed, like a master key entry (src/crypto/masterKeys.ts).
// Messages name the variable and the id, never key material.

const ENV = 'VAULT_AUDIT_SIGNING_KEY';
const SEED_BYTES = 32;
const ID = /^[A-Za-z0-9_-]+$/;
// PKCS#8 DER of an Ed25519 private key is this prefix followed by the 32-byte seed (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface AuditSigningKey {
  id: string;
  sign(message: string): string;
  verify(message: string, signature: string): boolean;
}

function invalid(problem: string): Error {
  return new Error(`Invalid ${ENV}: ${problem} (expected id:base64 of a ${SEED_BYTES}-byte Ed25519 seed)`);
}

export function parseAuditSigningKey(value: string): AuditSigningKey {
  const entry = value.trim();
  const colon = entry.indexOf(':');
  if (colon < 0) throw invalid("no ':' between id and key");
  const id = entry.slice(0, colon);
  if (!ID.test(id)) throw invalid('the id does not match [A-Za-z0-9_-]+');
  const text = entry
    .slice(colon + 1)
    .replace(/=+$/, '')
    .replace(/-/g, '+')
    .replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+$/.test(text)) throw invalid(`the key of "${id}" is not valid base64`);
  const seed = Buffer.from(text, 'base64');
  if (seed.length !== SEED_BYTES || seed.toString('base64').replace(/=+$/, '') !== text) {
    throw invalid(`the key of "${id}" does not decode to ${SEED_BYTES} bytes`);
  }
  const privateKey: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  seed.fill(0);
  const publicKey = createPublicKey(privateKey);
  return {
    id,
    sign: (message) => sign(null, Buffer.from(message, 'utf8'), privateKey).toString('base64'),
    verify: (message, signature) => {
      try {
        return verify(null, Buffer.from(message, 'utf8'), publicKey, Buffer.from(signature, 'base64'));
      } catch {
        return false;
      }
    },
  };
}

/** `id:base64` of a fresh random seed, in the format parseAuditSigningKey reads. */
export function generateAuditSigningKeyString(id: string): string {
  if (!ID.test(id)) throw new Error('Audit signing key id must match [A-Za-z0-9_-]+');
  return `${id}:${randomBytes(SEED_BYTES).toString('base64')}`;
}
