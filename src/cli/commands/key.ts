import { type Command, InvalidArgumentError, Option } from 'commander';
import { createApiKey, listApiKeys, revokeApiKey } from '../../domain/merchants/apiKeys.js';
import { lower, print, withApp } from '../shared.js';

/** `key create|revoke|list`: api keys. */
export function registerKey(program: Command): void {
  const key = program.command('key').description('api keys');
  key
    .command('create')
    .description('create an api key (shown once)')
    .requiredOption('--merchant <id>', 'merchant id')
    .addOption(new Option('--kind <kind>', 'secret or publishable').argParser(lower(['secret', 'publishable'])).makeOptionMandatory())
    .addOption(new Option('--mode <mode>', 'test or live').argParser(lower(['test', 'live'])).makeOptionMandatory())
    .option('--allow-reveal', 'secret keys only: may call revealCard')
    .option('--profile <id>', 'restrict the key to this profile of the merchant (pro_…): it acts in it with or without x-profile-id')
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant: string; kind: string; mode: string; allowReveal?: boolean; profile?: string; json?: boolean }) => {
      if (opts.allowReveal && opts.kind !== 'secret') throw new InvalidArgumentError('--allow-reveal applies to secret keys only');
      const created = await withApp((app) =>
        createApiKey(app, {
          merchantId: opts.merchant,
          kind: opts.kind === 'secret' ? 'SECRET' : 'PUBLISHABLE',
          mode: opts.mode === 'live' ? 'LIVE' : 'TEST',
          allowReveal: opts.allowReveal ?? false,
          ...(opts.profile !== undefined && { profileId: opts.profile }),
        }),
      );
      print(created, opts.json, () => `keyId ${created.keyId}\nkey   ${created.key}\n(the key is shown only once)`);
    });
  key
    .command('revoke')
    .description('revoke an api key; requests with it get 401 at once')
    .argument('<keyId>', 'key id (key_…)')
    .option('--json', 'print one JSON object')
    .action(async (keyId: string, opts: { json?: boolean }) => {
      await withApp((app) => revokeApiKey(app, keyId));
      print({ keyId, revoked: true }, opts.json, () => `revoked ${keyId}`);
    });
  key
    .command('list')
    .description("list a merchant's api keys (never the keys themselves)")
    .requiredOption('--merchant <id>', 'merchant id')
    .option('--json', 'print one JSON array')
    .action(async (opts: { merchant: string; json?: boolean }) => {
      const keys = await withApp((app) => listApiKeys(app, opts.merchant));
      print(
        keys,
        opts.json,
        () =>
          keys
            .map((k) =>
              [
                k.keyId,
                k.kind.toLowerCase(),
                k.mode.toLowerCase(),
                `${k.prefix}…`,
                k.allowReveal ? 'reveal' : '',
                k.profileId ? `profile ${k.profileId}` : '',
                k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active',
              ]
                .filter(Boolean)
                .join('  '),
            )
            .join('\n') || '(no keys)',
      );
    });
}
