import { createHash } from 'node:crypto';
import type { App } from '../../app/app.js';
import { containsIban } from '../../card/bankAccount.js';
import { containsCardNumber } from '../../card/pan.js';
import { scrubText } from '../../card/scrub.js';
import { countDocuments, deleteDocuments, insertDocuments, listDocuments, type TrustedDocumentRow } from './store.js';

// Trusted documents (persisted operations): the generated client's GraphQL documents, registered ahead of
// time and then called by id. An id is `sha256:` and the hex SHA-256 of the document's text (the GraphQL over
// HTTP persisted-documents form, as GraphQL Code Generator's client preset writes persisted-documents.json).
// What a document may hold is decided by the caller's check (src/http/plugins/trustedDocuments.ts: the
// server's own parse and validation, limits included): this module knows no GraphQL.

/** `sha256:` and 64 lowercase hex digits. */
export const DOCUMENT_ID = /^sha256:[0-9a-f]{64}$/;

/** The id of a document's text. */
export function documentIdOf(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

/** What the server makes of a document: its operations' names, or why it refuses it. */
export type DocumentCheck = { ok: true; operationNames: string[] } | { ok: false; reason: string };

export interface RegistrationResult {
  /** Documents in the manifest. */
  total: number;
  /** Stored by this registration. */
  added: number;
  /** Stored already (registering is idempotent). */
  existing: number;
  /** Refused, with why; when any is, nothing is stored. */
  refused: Array<{ id: string; reason: string }>;
}

/**
 * The entries of a persisted-documents manifest (`{ "<id>": "<document text>", … }`, as the client preset
 * writes it). Throws on anything else.
 */
export function manifestEntries(manifest: unknown): Array<{ id: string; document: string }> {
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    throw new ManifestError('expected a JSON object mapping document ids to document texts');
  }
  return Object.entries(manifest).map(([id, document]) => {
    if (typeof document !== 'string') throw new ManifestError(`the document of ${shortId(id)} is not a string`);
    return { id, document };
  });
}

const holdsAccountData = (text: string): boolean => containsCardNumber(text) || containsIban(text);

/**
 * A document's verdict: refused if its text holds a card number or an IBAN (documents are stored and listed in
 * the clear: card and account data belong in variables), else `check`'s. The server checks stored documents
 * the same way when it loads them, so one stored before this rule is refused at its first call.
 */
export function checkText(document: string, check: (document: string) => DocumentCheck): DocumentCheck {
  return holdsAccountData(document)
    ? { ok: false, reason: 'the document holds a card number or an IBAN: pass card data in variables, never in the text' }
    : check(document);
}

/**
 * Registers a manifest's documents: each id must be its text's SHA-256 (a tampered entry is refused), and each
 * text must pass `check` (the schema and the GraphQL limits). All or nothing: when any entry is refused,
 * nothing is stored. Registering the same documents again stores nothing new.
 */
export async function registerDocuments(
  app: App,
  entries: ReadonlyArray<{ id: string; document: string }>,
  check: (document: string) => DocumentCheck,
  label?: string,
): Promise<RegistrationResult> {
  if (label !== undefined && holdsAccountData(label)) throw new ManifestError('the label holds a card number or an IBAN');
  const refused: RegistrationResult['refused'] = [];
  const rows: Array<{ id: string; document: string; operationNames: string; label: string | null }> = [];
  const seen = new Set<string>();
  for (const { id, document } of entries) {
    if (!DOCUMENT_ID.test(id)) {
      refused.push({ id: shortId(id), reason: 'the id is not sha256:<64 lowercase hex digits>' });
      continue;
    }
    if (documentIdOf(document) !== id) {
      refused.push({ id, reason: "the id is not the SHA-256 of the document's text (tampered or edited after codegen)" });
      continue;
    }
    const verdict = checkText(document, check);
    if (!verdict.ok) {
      refused.push({ id, reason: verdict.reason });
      continue;
    }
    if (seen.has(id)) continue;
    seen.add(id);
    rows.push({ id, document, operationNames: verdict.operationNames.join(' '), label: label ?? null });
  }
  if (refused.length > 0) return { total: entries.length, added: 0, existing: 0, refused };
  const added = await insertDocuments(app, rows);
  return { total: entries.length, added, existing: rows.length - added, refused };
}

export function trustedDocuments(app: App): Promise<TrustedDocumentRow[]> {
  return listDocuments(app);
}

export function trustedDocumentCount(app: App): Promise<number> {
  return countDocuments(app);
}

/**
 * Removes documents (a client release retired: `--label`), so that clients still sending them are refused.
 * Ids are checked for shape first; returns the ids removed (an id not registered is not an error).
 */
export async function removeDocuments(app: App, which: { ids: string[] } | { label: string }): Promise<string[]> {
  if ('ids' in which) {
    const bad = which.ids.find((id) => !DOCUMENT_ID.test(id));
    if (bad !== undefined) throw new ManifestError(`${shortId(bad)} is not a document id (sha256:<64 lowercase hex digits>)`);
  }
  return deleteDocuments(app, which);
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

/** An id as the caller gave it, shortened and scrubbed for a message. */
function shortId(id: string): string {
  return scrubText(JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id));
}
