import { createReadStream, type ReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as openpgp from 'openpgp';

// OpenPGP for moving cards in and out (the maintained `openpgp` package), streamed both ways: a file of any
// size passes through in chunks. Keys are read from armoured (or binary) key files.

/** The file could not be read as asked: a wrong or missing key, a corrupt or tampered file. */
export class FileUnreadable extends Error {}

export type FileKind = 'armoured' | 'binary' | 'plain';

/** What the file is, from its first bytes: an armoured or binary OpenPGP message, or plain text. */
export async function fileKind(path: string): Promise<FileKind> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64);
    const { bytesRead } = await fh.read(buf, 0, 64, 0);
    const head = buf.subarray(0, bytesRead);
    if (head.toString('latin1').trimStart().startsWith('-----BEGIN PGP MESSAGE-----')) return 'armoured';
    // An OpenPGP packet header has its top bit set; text (CSV, JSON) never starts with such a byte... except
    // UTF-8 (a BOM, a non-ASCII first column name): those are not packet tags OpenPGP messages start with.
    const first = head[0];
    if (first !== undefined && first & 0x80 && !(first === 0xef && head[1] === 0xbb)) {
      const tag = first & 0x40 ? first & 0x3f : (first >> 2) & 0x0f;
      // PKESK (1), SKESK (3), compressed (8), SEIPD (18), one-pass signature (4), literal (11)
      if ([1, 3, 4, 8, 11, 18].includes(tag)) return 'binary';
    }
    return 'plain';
  } finally {
    await fh.close();
  }
}

async function readKey(path: string) {
  const fh = await open(path, 'r');
  const bytes = await fh.readFile();
  await fh.close();
  const text = bytes.toString('latin1');
  return text.includes('-----BEGIN PGP') ? text : bytes;
}

export async function readPrivateKey(path: string, passphrase?: string): Promise<openpgp.PrivateKey> {
  const source = await readKey(path);
  try {
    const key =
      typeof source === 'string'
        ? await openpgp.readPrivateKey({ armoredKey: source })
        : await openpgp.readPrivateKey({ binaryKey: source });
    if (key.isDecrypted()) return key;
    if (!passphrase) throw new FileUnreadable('the private key is protected by a passphrase: set VAULT_IMPORT_KEY_PASSPHRASE');
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch (err) {
    if (err instanceof FileUnreadable) throw err;
    throw new FileUnreadable(`cannot read the private key: ${(err as Error).message}`);
  }
}

export async function readPublicKey(path: string): Promise<openpgp.Key> {
  const source = await readKey(path);
  try {
    return typeof source === 'string' ? await openpgp.readKey({ armoredKey: source }) : await openpgp.readKey({ binaryKey: source });
  } catch (err) {
    throw new FileUnreadable(`cannot read the recipient's public key: ${(err as Error).message}`);
  }
}

/**
 * The file's plaintext as a Node stream, decrypted as it is read. The integrity check of an OpenPGP message
 * comes at its end (MDC) or per chunk (AEAD): a caller that must not act on unauthenticated data reads it
 * through once first (`verifyEncrypted`).
 */
export async function decryptedStream(path: string, kind: Exclude<FileKind, 'plain'>, key: openpgp.PrivateKey): Promise<Readable> {
  const source: ReadStream = createReadStream(path, kind === 'armoured' ? { encoding: 'utf8' } : {});
  const web = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array> & ReadableStream<string>;
  try {
    const message =
      kind === 'armoured'
        ? await openpgp.readMessage({ armoredMessage: web as ReadableStream<string> })
        : await openpgp.readMessage({ binaryMessage: web as ReadableStream<Uint8Array> });
    const { data } = await openpgp.decrypt({
      message,
      decryptionKeys: key,
      format: 'binary',
      // Streamed: memory stays flat whatever the file's size; the caller verifies the whole file first.
      config: { allowUnauthenticatedStream: true },
    });
    return Readable.fromWeb(data as unknown as WebReadableStream<Uint8Array>);
  } catch (err) {
    source.destroy();
    throw new FileUnreadable(`cannot decrypt the file: ${(err as Error).message}`);
  }
}

/** Reads the whole encrypted file through, discarding the plaintext: throws FileUnreadable unless it decrypts and its integrity holds. */
export async function verifyEncrypted(path: string, kind: Exclude<FileKind, 'plain'>, key: openpgp.PrivateKey): Promise<void> {
  const plain = await decryptedStream(path, kind, key);
  try {
    for await (const _ of plain) {
      // discarded
    }
  } catch (err) {
    throw new FileUnreadable(`the file is corrupt or was tampered with: ${(err as Error).message}`);
  }
}

/**
 * Encrypts the text the generator yields to one recipient, streaming into `out`; returns the recipient
 * key's fingerprint.
 */
export async function encryptTo(
  recipient: openpgp.Key,
  lines: AsyncIterable<string>,
  out: NodeJS.WritableStream,
  armor: boolean,
): Promise<void> {
  const text = Readable.toWeb(Readable.from(lines)) as unknown as ReadableStream<string>;
  const message = await openpgp.createMessage({ text, format: 'utf8' });
  const encrypted = armor
    ? await openpgp.encrypt({ message, encryptionKeys: recipient, format: 'armored' })
    : await openpgp.encrypt({ message, encryptionKeys: recipient, format: 'binary' });
  const node = Readable.fromWeb(encrypted as unknown as WebReadableStream<Uint8Array | string>);
  await new Promise<void>((resolve, reject) => {
    node.on('error', reject);
    out.on('error', reject);
    out.on('finish', resolve);
    node.pipe(out);
  });
}

export function keyFingerprint(key: openpgp.Key): string {
  return key.getFingerprint().toUpperCase();
}
