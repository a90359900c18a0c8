import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { App } from '../../app/app.js';
import { PROJECT_ROOT } from '../../app/projectRoot.js';
import {
  ManifestError,
  manifestEntries,
  registerDocuments,
  removeDocuments,
  trustedDocuments,
  type RegistrationResult,
} from '../../domain/trustedDocuments/trustedDocuments.js';
import { documentChecker, REMOVAL_DELAY_MS } from '../../http/plugins/trustedDocuments.js';
import { createVaultYoga } from '../../http/yoga.js';
import { print, withApp } from '../shared.js';

/** What `npm run codegen` writes: the generated client's documents by id. */
const GENERATED_MANIFEST = path.join(PROJECT_ROOT, 'packages', 'client', 'src', 'generated', 'persisted-documents.json');

/**
 * Registers a persisted-documents manifest, each document checked as the server checks a request's document:
 * its parse and validation (the schema, graphql-armor's limits, introspection off).
 */
export function pushDocuments(app: App, manifest: unknown, label?: string): Promise<RegistrationResult> {
  const yoga = createVaultYoga({ app, ready: async () => true, introspection: false, graphiql: false, trustedDocuments: 'off' });
  return registerDocuments(app, manifestEntries(manifest), documentChecker(yoga), label);
}

/** `documents push|list|remove`: trusted documents (persisted operations). */
export function registerDocumentsCommands(program: Command): void {
  const documents = program.command('documents').description('trusted documents (persisted operations) callable by id');
  documents
    .command('push')
    .description(
      "register the documents of a persisted-documents manifest (default: the generated client's); each is checked against the schema and the GraphQL limits, and nothing is stored if one is refused; registering again is a no-op",
    )
    .argument('[file]', 'persisted-documents JSON: { "sha256:<hex>": "<document>", … }', GENERATED_MANIFEST)
    .option('--label <label>', 'what these documents are (e.g. a client release), shown by `documents list`')
    .option('--json', 'print one JSON object')
    .action(async (file: string, opts: { label?: string; json?: boolean }) => {
      let manifest: unknown;
      try {
        manifest = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        throw new ManifestError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const result = await withApp((app) => pushDocuments(app, manifest, opts.label), false);
      print(result, opts.json, () =>
        result.refused.length > 0
          ? [
              `refused ${result.refused.length} of ${result.total} document(s); nothing stored:`,
              ...result.refused.map((r) => `  ${r.id}: ${r.reason}`),
            ].join('\n')
          : `${result.total} document(s): ${result.added} added, ${result.existing} already registered`,
      );
      if (result.refused.length > 0) process.exitCode = 1;
    });
  documents
    .command('list')
    .description('the registered documents: id, operations, label, when registered')
    .option('--json', "print one JSON array (with the documents' text)")
    .action(async (opts: { json?: boolean }) => {
      const rows = await withApp((app) => trustedDocuments(app), false);
      print(rows, opts.json, () =>
        rows.length === 0
          ? 'no trusted documents'
          : rows.map((r) => `${r.id}  ${r.createdAt.toISOString()}  ${r.operationNames}${r.label ? `  [${r.label}]` : ''}`).join('\n'),
      );
    });
  documents
    .command('remove')
    .description(
      `remove documents by id, or every document pushed with a label (a retired client release): clients sending them are refused within ${REMOVAL_DELAY_MS / 1000} s`,
    )
    .argument('[ids...]', 'document ids (sha256:<hex>)')
    .option('--label <label>', 'every document pushed with this label')
    .option('--json', 'print one JSON object')
    .action(async (ids: string[], opts: { label?: string; json?: boolean }) => {
      if (ids.length > 0 === (opts.label !== undefined)) {
        throw new InvalidArgumentError('name document ids or --label, not both');
      }
      const removed = await withApp((app) => removeDocuments(app, opts.label !== undefined ? { label: opts.label } : { ids }), false);
      print({ removed }, opts.json, () =>
        removed.length === 0 ? 'no document removed (none matched)' : `removed ${removed.length} document(s)`,
      );
    });
}
