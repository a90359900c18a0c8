import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomBytesPooled } from './random.js';

// AES-256-GCM with a random 96-bit nonce and a 128-bit tag. Random nonces are safe as long as one key seals
// well under 2^32 messages; data keys are per merchant and can be rotated long before that.

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';
const KEY_ID = /^[A-Za-z0-9_-]+$/;
const ENVELOPE = /^(v[0-9]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

/**
 * Any failure to open an envelope or verify a tag. The message is fixed text: it never carries key
 * material, plaintext or the envelope itself.
 */
export class DecryptionError extends Error {
  override name = 'DecryptionError';
  constructor(message = 'Decryption failed: wrong key, wrong AAD or tampered data') {
    super(message);
  }
}

function assertKeyAndNonce(key: Buffer, nonce: Buffer): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`AES-256-GCM key must be ${KEY_BYTES} bytes, got ${key.length}`);
  if (nonce.length !== NONCE_BYTES) {
    throw new RangeError(`AES-256-GCM nonce must be ${NONCE_BYTES} bytes, got ${nonce.length}`);
  }
}

export function gcmEncrypt(key: Buffer, nonce: Buffer, plaintext: Buffer, aad: Buffer): { ciphertext: Buffer; tag: Buffer } {
  assertKeyAndNonce(key, nonce);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

/** Throws DecryptionError unless the tag verifies; no plaintext is returned before that. */
export function gcmDecrypt(key: Buffer, nonce: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  assertKeyAndNonce(key, nonce);
  // A truncated tag would weaken authentication, so only full 128-bit tags are accepted.
  if (tag.length !== TAG_BYTES) throw new DecryptionError(`Authentication tag must be ${TAG_BYTES} bytes`);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new DecryptionError();
  }
}

/**
 * The GCM AAD of an envelope: its `v1.<keyId>.` header followed by the caller's AAD. Authenticating the
 * header means editing the version or key id in the stored text makes decryption fail instead of
 * silently selecting another format or key. Key ids contain no '.', so the split is unambiguous.
 */
function envelopeAad(version: string, keyId: string, aad: string): Buffer {
  return Buffer.from(`${version}.${keyId}.${aad}`, 'utf8');
}

/** Seals into the text envelope `v1.<keyId>.<base64url(nonce ‖ ciphertext ‖ tag)>`. */
export function seal(key: Buffer, keyId: string, plaintext: Buffer | string, aad: string): string {
  if (!KEY_ID.test(keyId)) throw new Error('Envelope key id must match [A-Za-z0-9_-]+');
  const nonce = randomBytesPooled(NONCE_BYTES);
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const { ciphertext, tag } = gcmEncrypt(key, nonce, data, envelopeAad(VERSION, keyId, aad));
  return `${VERSION}.${keyId}.${Buffer.concat([nonce, ciphertext, tag]).toString('base64url')}`;
}

function parse(envelope: string): { keyId: string; nonce: Buffer; ciphertext: Buffer; tag: Buffer } {
  const match = ENVELOPE.exec(envelope);
  if (!match) throw new DecryptionError('Malformed envelope');
  const [, version = '', keyId = '', body = ''] = match;
  if (version !== VERSION) throw new DecryptionError('Unsupported envelope version');
  const bytes = Buffer.from(body, 'base64url');
  // Node's decoder ignores stray trailing bits; insisting on the canonical form keeps one envelope per value.
  if (bytes.toString('base64url') !== body) throw new DecryptionError('Malformed envelope');
  if (bytes.length < NONCE_BYTES + TAG_BYTES) throw new DecryptionError('Envelope is too short');
  return {
    keyId,
    nonce: bytes.subarray(0, NONCE_BYTES),
    ciphertext: bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES),
    tag: bytes.subarray(bytes.length - TAG_BYTES),
  };
}

/** How every envelope sealed under `keyId` starts (for finding values under a key in SQL). */
export function envelopePrefix(keyId: string): string {
  return `${VERSION}.${keyId}.`;
}

/** The key id an envelope names (not yet authenticated: `open` verifies it). */
export function envelopeKeyId(envelope: string): string {
  return parse(envelope).keyId;
}

/**
 * Opens an envelope. `resolveKey` maps the envelope's key id to its key; an error it throws propagates as is.
 * Every other failure is a DecryptionError.
 */
export function open(envelope: string, resolveKey: (keyId: string) => Buffer, aad: string): Buffer {
  const { keyId, nonce, ciphertext, tag } = parse(envelope);
  return gcmDecrypt(resolveKey(keyId), nonce, ciphertext, tag, envelopeAad(VERSION, keyId, aad));
}

/**
 * AAD binding a sealed field to its merchant, model, field and row, so a ciphertext copied anywhere else
 * fails to open. JSON-encoding the tuple keeps it unambiguous: no two tuples give the same string.
 */
export function aadFor(merchantId: string, model: string, field: string, rowId: string): string {
  return JSON.stringify(['vault/v1', merchantId, model, field, rowId]);
}
