import type { Command } from 'commander';
import { exportCards } from '../../domain/paymentMethods/exportCards.js';
import { importCards } from '../../domain/paymentMethods/importCards.js';
import { progressBar } from '../progress.js';
import { lower, print, withApp } from '../shared.js';

type Mode = 'TEST' | 'LIVE';
const mode = lower(['test', 'live']);

/** `import` and `export`: a merchant's cards in from a file, out to a recipient's key. */
export function registerImportExport(program: Command): void {
  program
    .command('import')
    .description(
      'tokenize the cards of a CSV or JSONL file (optionally OpenPGP-encrypted) for a merchant; writes <file>.report.jsonl; a rerun resumes',
    )
    .requiredOption('--merchant <id>', 'merchant id')
    .requiredOption('--mode <mode>', 'test or live', mode)
    .requiredOption('--file <path>', 'CSV or JSONL: card_number, exp_month, exp_year, holder_name, customer_reference, metadata')
    .option('--decrypt-key <path>', 'OpenPGP private key (passphrase from VAULT_IMPORT_KEY_PASSPHRASE) for an encrypted file')
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant: string; mode: string; file: string; decryptKey?: string; json?: boolean }) => {
      const bar = progressBar('import', 'rows');
      const r = await withApp((app) =>
        importCards(app, {
          merchantId: opts.merchant,
          mode: opts.mode.toUpperCase() as Mode,
          file: opts.file,
          decryptKey: opts.decryptKey,
          decryptPassphrase: process.env.VAULT_IMPORT_KEY_PASSPHRASE,
          onProgress: (rows) => bar.update(rows, rows),
        }),
      ).finally(() => bar.stop());
      print(
        r,
        opts.json,
        () =>
          `read ${r.rows} row(s): ${r.created} created, ${r.duplicates} duplicate(s), ${r.failed} failed` +
          `${r.skipped ? `, ${r.skipped} done by an earlier run` : ''}; report: ${r.report}`,
      );
    });

  program
    .command('export')
    .description("write a merchant's cards as OpenPGP-encrypted JSONL to one recipient's public key")
    .requiredOption('--merchant <id>', 'merchant id')
    .requiredOption('--mode <mode>', 'test or live', mode)
    .requiredOption('--recipient <path>', "the recipient's OpenPGP public key")
    .requiredOption('--out <path>', 'the encrypted file to write')
    .option('--armor', 'ASCII-armoured output (default binary)')
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant: string; mode: string; recipient: string; out: string; armor?: boolean; json?: boolean }) => {
      const bar = progressBar('export', 'cards');
      const r = await withApp((app) =>
        exportCards(app, {
          merchantId: opts.merchant,
          mode: opts.mode.toUpperCase() as Mode,
          recipient: opts.recipient,
          out: opts.out,
          armor: opts.armor,
          onProgress: (n) => bar.update(n, n),
        }),
      ).finally(() => bar.stop());
      print(r, opts.json, () => `exported ${r.cards} card(s) to ${opts.out}, encrypted to ${r.recipientFingerprint}`);
    });
}
