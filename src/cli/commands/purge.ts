import type { Command } from 'commander';
import { sweep } from '../../domain/sweep.js';
import { print, withApp } from '../shared.js';

/** `purge`: what retention and expiry destroy, now. */
export function registerPurge(program: Command): void {
  program
    .command('purge')
    .description('delete payment methods past their retention date; destroy spent and expired card-token secrets')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      const r = await withApp((app) => sweep(app));
      print(
        { purged: r.purgedPaymentMethods, ...r },
        opts.json,
        () =>
          `purged ${r.purgedPaymentMethods} payment method(s); destroyed the secrets of ${r.destroyedTokenSecrets} card token(s); deleted ${r.deletedTokens}`,
      );
    });
}
