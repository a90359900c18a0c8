import { type Command, Option } from 'commander';
import { rewrapDataKeys, rotateDataKeys } from '../../domain/merchants/keyRotation.js';
import { progressBar } from '../progress.js';
import { positiveInt, print, withApp } from '../shared.js';

/** `keys rotate|rotate-data`: master key and data key rotation. */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('encryption keys');
  keys
    .command('rotate')
    .description('re-wrap every data key under the active (first) master key of VAULT_MASTER_KEYS; safe while servers run')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      const bar = progressBar('re-wrapping data keys', 'keys');
      const result = await withApp((app) => rewrapDataKeys(app, (done, total) => bar.update(done, total))).finally(() => bar.stop());
      print(result, opts.json, () => `re-wrapped ${result.rewrapped} data key(s); ${result.total} in all`);
    });
  keys
    .command('rotate-data')
    .description(
      'give merchants new encryption keys and re-encrypt their data under them while servers run; interrupted (Ctrl-C), run it again to resume',
    )
    .option('--merchant <id>', 'only this merchant (default: all)')
    .addOption(new Option('--batch-size <n>', 'rows per batch').argParser(positiveInt).default(200))
    .addOption(new Option('--limit <n>', 'stop after this many rows (the rest is resumed by the next run)').argParser(positiveInt))
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant?: string; batchSize: number; limit?: number; json?: boolean }) => {
      let interrupted = false;
      const onSignal = () => {
        interrupted = true;
        process.stderr.write('\nstopping after the current row; run the command again to resume\n');
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const bar = progressBar('re-encrypting', 'rows');
      const result = await withApp((app) =>
        rotateDataKeys(app, {
          merchantId: opts.merchant,
          batchSize: opts.batchSize,
          limit: opts.limit,
          stopped: () => interrupted,
          onProgress: (done, total) => bar.update(done, total),
        }),
      ).finally(() => {
        bar.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      });
      print(result, opts.json, () =>
        [
          `${result.rotated} new encryption key(s) for ${result.merchants} merchant(s); ${result.reencrypted} row(s) re-encrypted`,
          result.remaining > 0
            ? `${result.remaining} row(s) left under retired keys: run the command again to finish`
            : 'nothing left under retired keys',
        ].join('\n'),
      );
      // Incomplete is not a failure, but scripts must be able to tell.
      if (result.remaining > 0) process.exitCode = 3;
    });
}
