import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { App } from '../../app/app.js';
import { ConfigError } from '../../app/config.js';
import {
  generateAuditSigningKeyString,
  parseAuditPublicKey,
  parseAuditSigningKey,
  type AuditSigningKey,
  type AuditVerifyKey,
} from '../../crypto/auditSigningKey.js';
import type { ChainHead } from './audit.js';

// Signed checkpoints (Certificate Transparency's signed tree heads, per merchant chain): `audit checkpoint`
// prints every merchant's chain head (seq and hash) signed with Ed25519; an operator keeps the output
// outside the database. Because each hash covers every event before it, `audit verify --checkpoint F`
// proves the chain still extends the head: the event at that seq still has that hash and the chain from
// there verifies. Someone able to rewrite the tables could recompute a consistent chain, but not the
// signature over a head they changed, nor a head that no longer matches the one kept outside.
//
// Checking needs only the public key: an auditor pins it (`audit verify --checkpoint F --public-key K`, K being
// what `audit public-key` printed where the signing key is), rather than trusting the copy a checkpoint
// carries (`publicKey`, there to say which key signed it). Without --public-key, verify uses the public half
// of the configured signing key, and says so. Checkpoints printed before `publicKey` existed verify the same
// way: the signed message did not change.

export interface Checkpoint {
  merchant: string;
  seq: number;
  hash: string;
  /** When it was signed (ISO 8601). */
  time: string;
  keyId: string;
  /**
   * The signing key's raw Ed25519 public key, base64 (absent from checkpoints printed before it was added). Not
   * signed, and not trusted: verify compares it with the pinned key only to name a checkpoint signed by another.
   */
  publicKey?: string;
  /** Ed25519 over checkpointMessage(), base64. */
  signature: string;
}

/** The key that checks a checkpoint's signatures, and where it came from. */
export interface CheckpointVerifier {
  key: AuditVerifyKey;
  /** `pinned`: --public-key; `configured`: the public half of VAULT_AUDIT_SIGNING_KEY (or the development key). */
  source: 'pinned' | 'configured';
}

/** A checkpoint file that cannot be read, or whose signature does not verify: `audit verify` fails with it. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** What is signed: every field but the signature and the public key, in a fixed order, with a version tag. */
function checkpointMessage(c: Omit<Checkpoint, 'signature' | 'publicKey'>): string {
  return JSON.stringify(['vault-audit-checkpoint/1', c.merchant, String(c.seq), c.hash, c.time, c.keyId]);
}

/**
 * VAULT_AUDIT_SIGNING_KEY when set. Otherwise (not in production) a key generated once and kept in the data
 * folder, as the development master key is.
 */
export async function auditSigningKey(app: Pick<App, 'config' | 'log'>): Promise<AuditSigningKey> {
  const { config } = app;
  if (config.VAULT_AUDIT_SIGNING_KEY) return parseAuditSigningKey(config.VAULT_AUDIT_SIGNING_KEY);
  if (config.NODE_ENV === 'production') {
    throw new ConfigError(
      'Invalid configuration:\n  VAULT_AUDIT_SIGNING_KEY: required when NODE_ENV=production to sign audit checkpoints or print their public key (id:base64 of a 32-byte seed)',
    );
  }
  const file = devSigningKeyFile(app);
  if (!existsSync(file)) {
    await mkdir(config.VAULT_DATA_DIR, { recursive: true });
    await writeFile(file, `${generateAuditSigningKeyString('dev1')}\n`, { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    app.log.warn({ file }, 'VAULT_AUDIT_SIGNING_KEY is not set: generated a development signing key (never use this in production)');
  }
  return parseAuditSigningKey((await readFile(file, 'utf8')).trim());
}

const devSigningKeyFile = (app: Pick<App, 'config'>) => path.join(app.config.VAULT_DATA_DIR, 'audit-signing-key');

/**
 * The key `audit verify --checkpoint` checks signatures with: `publicKey` (the --public-key option: a file, or
 * the key itself, as `audit public-key` prints it) when given; otherwise the public half of the configured
 * signing key (never a development key generated for the occasion). Throws CheckpointError when neither is there.
 */
export async function checkpointVerifier(app: App, publicKey?: string): Promise<CheckpointVerifier> {
  if (publicKey !== undefined) {
    const text = existsSync(publicKey) ? await readFile(publicKey, 'utf8') : publicKey;
    try {
      return { key: parseAuditPublicKey(text), source: 'pinned' };
    } catch (e) {
      throw new CheckpointError(`--public-key: ${(e as Error).message}`);
    }
  }
  const { config } = app;
  if (config.VAULT_AUDIT_SIGNING_KEY || (config.NODE_ENV !== 'production' && existsSync(devSigningKeyFile(app)))) {
    return { key: await auditSigningKey(app), source: 'configured' };
  }
  throw new CheckpointError(
    'no key to check the checkpoint with: pass --public-key (what `audit public-key` prints where VAULT_AUDIT_SIGNING_KEY is set), or set VAULT_AUDIT_SIGNING_KEY',
  );
}

/** Every merchant's chain head (or one's), signed now. Merchants with no sealed event yet have no head. */
export async function createCheckpoints(app: App, key: AuditSigningKey, merchantId?: string): Promise<Checkpoint[]> {
  const only = merchantId ?? null;
  const heads = await app.db.prisma.$queryRaw<{ merchant: string; seq: bigint; hash: string }[]>`
    SELECT m.id AS merchant, l.seq, l.hash
      FROM merchants m
      CROSS JOIN LATERAL (SELECT seq, hash FROM audit_links WHERE merchant_id = m.id ORDER BY seq DESC LIMIT 1) l
     WHERE ${only}::text IS NULL OR m.id = ${only}::text
     ORDER BY m.id`;
  const time = app.clock().toISOString();
  return heads.map((h) => {
    const unsigned = { merchant: h.merchant, seq: Number(h.seq), hash: h.hash, time, keyId: key.id };
    return { ...unsigned, publicKey: key.publicKey, signature: key.sign(checkpointMessage(unsigned)) };
  });
}

/**
 * The heads of a checkpoint file (what `audit checkpoint` printed: `{"checkpoints": [...]}` or the array),
 * each signature checked with the verifier's key. Throws CheckpointError naming the first that does not verify.
 */
export function checkpointHeads(text: string, { key, source }: CheckpointVerifier): ChainHead[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CheckpointError('the checkpoint file is not JSON');
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { checkpoints?: unknown } | null)?.checkpoints;
  if (!Array.isArray(list)) throw new CheckpointError('the checkpoint file holds no "checkpoints" list');
  return list.map((raw: unknown, i) => {
    const c = raw as Partial<Checkpoint> | null;
    const where = `checkpoint ${i + 1}`;
    if (
      !c ||
      typeof c.merchant !== 'string' ||
      !Number.isSafeInteger(c.seq) ||
      (c.seq as number) < 1 ||
      typeof c.hash !== 'string' ||
      typeof c.time !== 'string' ||
      typeof c.keyId !== 'string' ||
      typeof c.signature !== 'string' ||
      (c.publicKey !== undefined && typeof c.publicKey !== 'string')
    ) {
      throw new CheckpointError(`${where} lacks merchant, seq, hash, time, keyId or signature`);
    }
    const cp = c as Checkpoint;
    const ours = source === 'pinned' ? 'the pinned public key' : "the configured signing key's public key";
    if (key.id !== undefined && cp.keyId !== key.id) {
      throw new CheckpointError(`${where} (merchant ${cp.merchant}) is signed by key "${cp.keyId}", not ${ours} "${key.id}"`);
    }
    if (cp.publicKey !== undefined && cp.publicKey !== key.publicKey) {
      throw new CheckpointError(
        `${where} (merchant ${cp.merchant}) names public key ${cp.publicKey}, not ${ours} ${key.publicKey}: it was signed by another key "${cp.keyId}", or altered`,
      );
    }
    if (!key.verify(checkpointMessage(cp), cp.signature)) {
      throw new CheckpointError(
        `${where} (merchant ${cp.merchant}): the signature does not verify with ${ours}; the checkpoint was altered or signed by another key`,
      );
    }
    return { merchantId: cp.merchant, seq: BigInt(cp.seq), hash: cp.hash };
  });
}
