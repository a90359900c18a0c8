import type { Command } from 'commander';
import { forwardHosts, origins, type AllowList } from '../../domain/merchants/allowLists.js';
import { createMerchant } from '../../domain/merchants/merchants.js';
import { print, withApp } from '../shared.js';

interface AllowListHelp {
  plural: string;
  example: string;
  allowDescription: string;
  listDescription: string;
}

/** `allow-<noun>`, `disallow-<noun>` and `<plural>` under `merchant`, for one of its allow-lists. */
function allowListCommands(merchant: Command, l: AllowList, help: AllowListHelp): void {
  const VALUE = l.noun.toUpperCase();
  merchant
    .command(`allow-${l.noun}`)
    .description(help.allowDescription)
    .requiredOption('--merchant <id>', 'merchant id')
    .requiredOption(`--${l.noun} <${l.noun}>`, `e.g. ${help.example}`)
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant: string; json?: boolean } & Record<string, string>) => {
      const value = await withApp((app) => l.allow(app, opts.merchant, opts[l.noun]!));
      print({ merchantId: opts.merchant, [l.noun]: value, allowed: true }, opts.json, () => `allowed ${value}`);
    });
  merchant
    .command(`disallow-${l.noun}`)
    .description(`remove ${VALUE} from ${help.listDescription}`)
    .requiredOption('--merchant <id>', 'merchant id')
    .requiredOption(`--${l.noun} <${l.noun}>`, `${l.noun} to remove`)
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant: string; json?: boolean } & Record<string, string>) => {
      const value = l.normalize(opts[l.noun]!);
      const removed = await withApp((app) => l.disallow(app, opts.merchant, value));
      print({ merchantId: opts.merchant, [l.noun]: value, removed }, opts.json, () =>
        removed ? `removed ${value}` : `${value} was not allowed`,
      );
    });
  merchant
    .command(help.plural)
    .description(`list ${help.listDescription}`)
    .requiredOption('--merchant <id>', 'merchant id')
    .option('--json', 'print one JSON array')
    .action(async (opts: { merchant: string; json?: boolean }) => {
      const values = await withApp((app) => l.list(app, opts.merchant));
      print(values, opts.json, () => values.join('\n') || '(none)');
    });
}

/** `merchant create` and the merchant's allow-lists (browser origins, forwarding hosts). */
export function registerMerchant(program: Command): void {
  const merchant = program.command('merchant').description('merchants');
  merchant
    .command('create')
    .description('create a merchant with a test-mode secret and publishable key (shown once)')
    .requiredOption('--name <name>', 'merchant name')
    .option('--json', 'print one JSON object')
    .action(async (opts: { name: string; json?: boolean }) => {
      const { defaultProfileId: _, ...created } = await withApp((app) => createMerchant(app, { name: opts.name }));
      print(created, opts.json, () =>
        [
          `merchantId      ${created.merchantId}`,
          `secret key      ${created.secretKey}`,
          `publishable key ${created.publishableKey}`,
          '(keys are shown only once)',
        ].join('\n'),
      );
    });

  allowListCommands(merchant, origins, {
    plural: 'origins',
    example: 'https://shop.example',
    allowDescription: "let browser pages on ORIGIN call the API with this merchant's keys (createCardToken)",
    listDescription: "the merchant's allowed browser origins",
  });
  allowListCommands(merchant, forwardHosts, {
    plural: 'hosts',
    example: "api.psp.example or 127.0.0.1:8443; no port means the scheme's default",
    allowDescription: "let forwardRequest send this merchant's card data to HOST",
    listDescription: "the merchant's forwarding hosts",
  });
}
