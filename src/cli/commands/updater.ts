import type { Command } from 'commander';
import { runAccountUpdater } from '../../domain/paymentMethods/accountUpdater.js';
import { requireMerchant } from '../../domain/merchants/merchants.js';
import { progressBar } from '../progress.js';
import { print, withApp } from '../shared.js';

/** `updater run`: the account updater over the cards it has not asked about (resumable). */
export function registerUpdater(program: Command): void {
  const updater = program.command('updater').description("the card networks' account updater");
  updater
    .command('run')
    .description(
      'ask the account updater (the sandbox in test mode) about stored cards not asked yet; apply new expiries and numbers, flag closed accounts',
    )
    .option('--merchant <id>', 'one merchant (default: all)')
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant?: string; json?: boolean }) => {
      const bar = progressBar('updater', 'cards');
      const r = await withApp(async (app) => {
        if (opts.merchant) await requireMerchant(app, opts.merchant);
        return runAccountUpdater(app, { merchantId: opts.merchant, onProgress: (n) => bar.update(n, n) });
      }).finally(() => bar.stop());
      print(
        r,
        opts.json,
        () =>
          `asked about ${r.checked} card(s): ${r.updated} updated, ${r.merged} merged into an existing payment method, ${r.closed} closed, ${r.unchanged} unchanged, ${r.failed} not applicable`,
      );
    });
}
