import { aadFor, envelopeKeyId, open, seal } from '../crypto/aead.js';
import { Prisma } from '../generated/prisma/client.js';
import { decodeField, encryptedFieldsOf, type EncryptedField, type EncryptedModel, type FieldValue } from './encrypted-fields.js';
import type { Keyring } from '../crypto/keyring.js';

// Field-level encryption as a Prisma Client extension. Every write to a field listed in ENCRYPTED_FIELDS is
// sealed with AES-256-GCM under the merchant's active data key, with AAD binding merchant, model, field and
// row id: a ciphertext copied to another row, field or tenant fails to open. Reads are not decrypted here:
// a caller opens exactly the fields it needs with `openField`, so plaintext exists only on explicit paths.
// Values are turned into plaintext by their field's codec (encrypted-fields.ts `encodeField`) before they
// reach this layer, and back by `openField`.

type Data = Record<string, unknown>;
type RowIds = { merchantId: string; id: string };

/**
 * Seals the encrypted fields of `model` present in `data` under the merchant's active key, bound to the
 * row: what the extension does on every write, for the few raw-SQL write paths too.
 */
export async function sealFields(keyring: Keyring, model: string, data: Data, ids: RowIds | undefined): Promise<Data> {
  const fields = encryptedFieldsOf(model) ?? [];
  const present = fields.filter((f) => data[f] !== undefined && data[f] !== null);
  if (present.length === 0) return data;
  if (!ids) throw new Error(`${model}: writes to encrypted fields must name the row by (merchantId, id)`);
  const { encryption } = await keyring.merchantKeys(ids.merchantId);
  const out = { ...data };
  for (const field of present) {
    const value = data[field];
    const plaintext = typeof value === 'object' && value && 'set' in value ? (value as { set: unknown }).set : value;
    if (plaintext === null) continue;
    if (typeof plaintext !== 'string') throw new Error(`${model}.${field}: encrypted fields take strings`);
    const aad = aadFor(ids.merchantId, model, field, ids.id);
    const envelope = seal(encryption.key.reveal(), encryption.id, plaintext, aad);
    out[field] = envelope;
    if (REMEMBERED_FIELDS.has(field)) remember(memoKey(aad, envelope), plaintext);
  }
  return out;
}

// Opened card expiries, remembered by envelope and AAD: every masked view shows the expiry, and a masked
// read, or the answer to the tokenization that sealed it, need not decrypt it again. Only the expiry (month
// and year, which every masked view shows anyway): never a number, a name, a CVC or an address. Keyed by the
// envelope (a fresh IV each time it is sealed) and the AAD it is bound to, so an entry answers only for the
// very ciphertext it came from in the very row, field and merchant the AEAD would have checked; the row is
// still read from the database each time, so a deleted card reads as absent at once, and the data key is
// still asked of the keyring, so a process that can no longer unwrap it opens nothing. Bounded; the oldest
// entry goes first. What it saves is the AES-GCM open itself.
const REMEMBERED_FIELDS: ReadonlySet<string> = new Set(['cardExpiry']);
const REMEMBERED_MAX = 10_000;
const remembered = new Map<string, string>();

const memoKey = (aad: string, envelope: string) => `${aad}\n${envelope}`;

function remember(key: string, plaintext: string): void {
  if (remembered.size >= REMEMBERED_MAX) remembered.delete(remembered.keys().next().value as string);
  remembered.set(key, plaintext);
}

export function encryptionExtension(keyring: Keyring) {
  const idsFromData = (data: Data): RowIds | undefined =>
    typeof data.merchantId === 'string' && typeof data.id === 'string' ? { merchantId: data.merchantId, id: data.id } : undefined;
  const idsFromWhere = (where: unknown): RowIds | undefined => {
    const compound = (where as { merchantId_id?: RowIds } | undefined)?.merchantId_id;
    return compound && typeof compound.merchantId === 'string' && typeof compound.id === 'string' ? compound : undefined;
  };

  return Prisma.defineExtension({
    name: 'field-encryption',
    query: {
      $allModels: {
        async $allOperations({ model, operation, args, query }) {
          const fields = encryptedFieldsOf(model);
          if (!fields) return query(args);
          const a = args as { data?: Data | Data[]; where?: unknown; create?: Data; update?: Data };
          switch (operation) {
            case 'create':
              a.data = await sealFields(keyring, model, a.data as Data, idsFromData(a.data as Data));
              break;
            case 'createMany':
            case 'createManyAndReturn': {
              const rows = Array.isArray(a.data) ? a.data : [a.data as Data];
              a.data = await Promise.all(rows.map((d) => sealFields(keyring, model, d, idsFromData(d))));
              break;
            }
            case 'update':
              a.data = await sealFields(keyring, model, a.data as Data, idsFromWhere(a.where));
              break;
            case 'upsert':
              a.create = await sealFields(keyring, model, a.create as Data, idsFromData(a.create as Data));
              a.update = await sealFields(keyring, model, a.update as Data, idsFromWhere(a.where));
              break;
            case 'updateMany':
            case 'updateManyAndReturn':
              // Row ids are part of the AAD, so a multi-row write cannot seal values; allow only clearing.
              await sealFields(keyring, model, a.data as Data, undefined);
              break;
          }
          return query(args);
        },
      },
    },
  });
}

type SealedRow<M extends EncryptedModel> = RowIds & { [K in EncryptedField<M>]?: string | null };

/** A field of `row`, opened and decoded by its codec: typed values (a `Secret` for card numbers), never JSON text. */
export async function openField<M extends EncryptedModel, F extends EncryptedField<M>>(
  keyring: Keyring,
  model: M,
  field: F,
  row: SealedRow<M>,
): Promise<FieldValue<M, F> | null> {
  const plaintext = await openPlaintext(keyring, model, field, row);
  return plaintext === null ? null : decodeField(model, field, plaintext);
}

/** A field's plaintext as it was sealed: for re-encryption under another key only. */
export async function openPlaintext<M extends EncryptedModel>(
  keyring: Keyring,
  model: M,
  field: EncryptedField<M>,
  row: SealedRow<M>,
): Promise<string | null> {
  const envelope = row[field];
  if (envelope === undefined) throw new Error(`${model}.${field} was not selected`);
  if (envelope === null) return null;
  const aad = aadFor(row.merchantId, model, field, row.id);
  // The key first, remembered or not: a keyring that cannot unwrap the envelope's data key (a master key
  // taken out of service, a retired key) opens nothing, whatever this process opened before.
  const key = await keyring.decryptionKey(row.merchantId, envelopeKeyId(envelope));
  const memo = REMEMBERED_FIELDS.has(field) ? memoKey(aad, envelope) : undefined;
  const known = memo === undefined ? undefined : remembered.get(memo);
  if (known !== undefined) return known;
  const plaintext = open(envelope, () => key.reveal(), aad).toString('utf8');
  if (memo !== undefined) remember(memo, plaintext);
  return plaintext;
}
