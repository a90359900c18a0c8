import type { Command } from 'commander';
import { createProfile, listProfiles } from '../../domain/merchants/profiles.js';
import { print, withApp } from '../shared.js';

/** `profile create|list`: a merchant's profiles (business units). */
export function registerProfile(program: Command): void {
  const profile = program.command('profile').description("a merchant's profiles (business units; requests choose one with x-profile-id)");
  profile
    .command('create')
    .description('create a profile of the merchant')
    .requiredOption('--merchant <id>', 'merchant id')
    .requiredOption('--name <name>', 'profile name')
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant: string; name: string; json?: boolean }) => {
      const profileId = await withApp((app) => createProfile(app, { merchantId: opts.merchant, name: opts.name }));
      print({ profileId }, opts.json, () => `profileId ${profileId}`);
    });
  profile
    .command('list')
    .description("list a merchant's profiles, the default first")
    .requiredOption('--merchant <id>', 'merchant id')
    .option('--json', 'print one JSON array')
    .action(async (opts: { merchant: string; json?: boolean }) => {
      const profiles = await withApp((app) => listProfiles(app, opts.merchant));
      print(profiles, opts.json, () =>
        profiles.map((p) => [p.profileId, p.isDefault ? 'default' : '', p.name].filter(Boolean).join('  ')).join('\n'),
      );
    });
}
