import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

// The key that signs audit checkpoints (src/domain/audit/checkpoint.ts): VAULT_AUDIT_SIGNING_KEY as
// `id:base64`, the base64 being a 32-byte Ed25519 seed, like a master key entry (src/crypto/masterKeys.ts).
// Messages name the variable and the id, never key material.
//
// Its public half checks checkpoints without the private key (an auditor's `audit verify --checkpoint F
// --public-key K`). `audit public-key` prints it as `id:base64` of the raw 32-byte Ed25519 public key (the
// signing key's own shape), or as PEM (SubjectPublicKeyInfo, what OpenSSL reads); parseAuditPublicKey reads
// both, and bare base64.

const ENV = 'VAULT_AUDIT_SIGNING_KEY';
const SEED_BYTES = 32;
const ID = /^[A-Za-z0-9_-]+$/;
// PKCS#8 DER of an Ed25519 private key is this prefix followed by the 32-byte seed (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
// SubjectPublicKeyInfo DER of an Ed25519 public key: this prefix followed by the 32-byte key (RFC 8410).
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PUBLIC_BYTES = 32;

/** What checks a checkpoint's signature: an Ed25519 public key. */
export interface AuditVerifyKey {
  /** The key id, when known (the signing key's; `id:base64` public keys): checked against a checkpoint's keyId. */
  id: string | undefined;
  /** The raw 32-byte public key, base64. */
  publicKey: string;
  /** The same key as PEM (SubjectPublicKeyInfo). */
  pem: string;
  verify(message: string, signature: string): boolean;
}

export interface AuditSigningKey extends AuditVerifyKey {
  id: string;
  sign(message: string): string;
}

function verifyKey(id: string | undefined, publicKey: KeyObject): AuditVerifyKey {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return {
    id,
    publicKey: der.subarray(SPKI_ED25519_PREFIX.length).toString('base64'),
    pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    verify: (message, signature) => {
      try {
        return verify(null, Buffer.from(message, 'utf8'), publicKey, Buffer.from(signature, 'base64'));
      } catch {
        return false;
      }
    },
  };
}

/** Standard or URL-safe base64, padded or not, of exactly `bytes` bytes; undefined otherwise. */
function decodeBase64(value: string, bytes: number): Buffer | undefined {
  const text = value.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+$/.test(text)) return undefined;
  const raw = Buffer.from(text, 'base64');
  return raw.length === bytes && raw.toString('base64').replace(/=+$/, '') === text ? raw : undefined;
}

/**
 * A public key that checks checkpoints, as `audit public-key` prints it: `id:base64` (raw 32-byte Ed25519 key),
 * PEM (SubjectPublicKeyInfo) or bare base64. Throws an Error saying what is wrong with it.
 */
export function parseAuditPublicKey(value: string): AuditVerifyKey {
  const text = value.trim();
  if (text.startsWith('-----BEGIN')) {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: text, format: 'pem' });
    } catch {
      throw new Error('the public key is not a PEM public key (-----BEGIN PUBLIC KEY-----)');
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the public key is ${key.asymmetricKeyType ?? 'not'} an Ed25519 key`);
    return verifyKey(undefined, key);
  }
  const colon = text.indexOf(':');
  const id = colon < 0 ? undefined : text.slice(0, colon);
  if (id !== undefined && !ID.test(id)) throw new Error('the public key id (before the ":") does not match [A-Za-z0-9_-]+');
  const raw = decodeBase64(text.slice(colon + 1), PUBLIC_BYTES);
  if (!raw) {
    throw new Error(
      `the public key is neither PEM nor ${id === undefined ? '' : 'id:'}base64 of a ${PUBLIC_BYTES}-byte Ed25519 public key (what \`audit public-key\` prints)`,
    );
  }
  return verifyKey(id, createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' }));
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
  const seed = decodeBase64(text, SEED_BYTES);
  if (!seed) throw invalid(`the key of "${id}" does not decode to ${SEED_BYTES} bytes`);
  const privateKey: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  seed.fill(0);
  return {
    ...verifyKey(id, createPublicKey(privateKey)),
    id,
    sign: (message) => sign(null, Buffer.from(message, 'utf8'), privateKey).toString('base64'),
  };
}

/** `id:base64` of the raw public key: what `audit public-key` prints and `--public-key` reads. */
export function formatAuditPublicKey(key: AuditVerifyKey): string {
  return key.id === undefined ? key.publicKey : `${key.id}:${key.publicKey}`;
}

/** `id:base64` of a fresh random seed, in the format parseAuditSigningKey reads. */
export function generateAuditSigningKeyString(id: string): string {
  if (!ID.test(id)) throw new Error('Audit signing key id must match [A-Za-z0-9_-]+');
  return `${id}:${randomBytes(SEED_BYTES).toString('base64')}`;
}
