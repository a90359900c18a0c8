import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../app/config.js';
import { SchemaBehindError } from '../app/app.js';
import { EmbeddedDatabaseInUse } from '../db/embedded.js';
import { CheckpointError } from '../domain/audit/checkpoint.js';
import { VaultError } from '../domain/shared/errors.js';
import { FileUnreadable } from '../crypto/openpgp.js';
import { ManifestError } from '../domain/trustedDocuments/trustedDocuments.js';
import { registerAudit } from './commands/audit.js';
import { registerDb } from './commands/db.js';
import { registerDocumentsCommands } from './commands/documents.js';
import { registerImportExport } from './commands/import.js';
import { registerKey } from './commands/key.js';
import { registerKeys } from './commands/keys.js';
import { registerMerchant } from './commands/merchant.js';
import { registerProfile } from './commands/profile.js';
import { registerPurge } from './commands/purge.js';
import { registerWebhook } from './commands/webhook.js';
import { registerUpdater } from './commands/updater.js';
import { log } from './shared.js';

// The operator CLI: `npx vault <command>`, one file per command group under commands/.

export function buildCli(): Command {
  const program = new Command('vault').description('Vault operator commands').showHelpAfterError();
  registerMerchant(program);
  registerProfile(program);
  registerKey(program);
  registerPurge(program);
  registerKeys(program);
  registerAudit(program);
  registerDb(program);
  registerDocumentsCommands(program);
  registerWebhook(program);
  registerImportExport(program);
  registerUpdater(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildCli().parseAsync(process.argv);
  } catch (err) {
    const known =
      err instanceof VaultError ||
      err instanceof ConfigError ||
      err instanceof SchemaBehindError ||
      err instanceof EmbeddedDatabaseInUse ||
      err instanceof InvalidArgumentError ||
      err instanceof CheckpointError ||
      err instanceof ManifestError ||
      err instanceof FileUnreadable;
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!known) log.error({ err }, 'command failed');
    process.exitCode = 1;
  }
}

await main();
