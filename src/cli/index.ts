import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { createApp, type App } from '../app/app.js';
import { ConfigError, parseConfig } from '../app/config.js';
import { createLogger } from '../app/logger.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../domain/merchants/apiKeys.js';
import { createMerchant } from '../domain/merchants/merchants.js';
import { forwardHosts, origins, type AllowList } from '../domain/merchants/allowLists.js';
import { readFile } from 'node:fs/promises';
import { verifyAuditChain } from '../domain/audit/audit.js';
import { auditSigningKey, checkpointHeads, CheckpointError, createCheckpoints } from '../domain/audit/checkpoint.js';
import { sealOnce } from '../domain/audit/sealer.js';
import { rewrapDataKeys, rotateDataKeys } from '../domain/merchants/keyRotation.js';
import { progressBar } from './progress.js';
import { sweep } from '../domain/sweep.js';
import { VaultError } from '../domain/shared/errors.js';

// The operator CLI: `npx vault <command>`. Results go to stdout (one JSON document with --json);
// logs go to stderr so stdout stays machine-readable.
const log = createLogger(process.env.LOG_LEVEL ?? 'warn', pino.destination(2));

/**
 * Each command builds the app from the environment, runs with it, and stops it. Before stopping, the command
 * seals the audit events it (or anyone) wrote, unless a server process is the elected sealer: a vault
 * driven by the CLI alone keeps its chains sealed too. `audit verify` does not (it reports what it finds).
 */
async function withApp<T>(fn: (app: App) => Promise<T>, seal = true): Promise<T> {
  const app = await createApp(parseConfig(), log, { migrate: true });
  try {
    const result = await fn(app);
    if (seal) await sealAsCli(app);
    return result;
  } finally {
    await app.stop();
  }
}

function sealAsCli(app: App) {
  return sealOnce({ databaseUrl: app.databaseUrl, pool: app.db.pool, embedded: app.embedded, log: app.log });
}

function print(value: unknown, json: boolean | undefined, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

const lower = (allowed: string[]) => (value: string) => {
  const v = value.toLowerCase();
  if (!allowed.includes(v)) throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}`);
  return v;
};

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

export function buildCli(): Command {
  const program = new Command('vault').description('Vault operator commands').showHelpAfterError();

  const merchant = program.command('merchant').description('merchants');
  merchant
    .command('create')
    .description('create a merchant with a test-mode secret and publishable key (shown once)')
    .requiredOption('--name <name>', 'merchant name')
    .option('--json', 'print one JSON object')
    .action(async (opts: { name: string; json?: boolean }) => {
      const created = await withApp((app) => createMerchant(app, { name: opts.name }));
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

  const key = program.command('key').description('api keys');
  key
    .command('create')
    .description('create an api key (shown once)')
    .requiredOption('--merchant <id>', 'merchant id')
    .addOption(new Option('--kind <kind>', 'secret or publishable').argParser(lower(['secret', 'publishable'])).makeOptionMandatory())
    .addOption(new Option('--mode <mode>', 'test or live').argParser(lower(['test', 'live'])).makeOptionMandatory())
    .option('--allow-reveal', 'secret keys only: may call revealCard')
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant: string; kind: string; mode: string; allowReveal?: boolean; json?: boolean }) => {
      if (opts.allowReveal && opts.kind !== 'secret') throw new InvalidArgumentError('--allow-reveal applies to secret keys only');
      const created = await withApp((app) =>
        createApiKey(app, {
          merchantId: opts.merchant,
          kind: opts.kind === 'secret' ? 'SECRET' : 'PUBLISHABLE',
          mode: opts.mode === 'live' ? 'LIVE' : 'TEST',
          allowReveal: opts.allowReveal ?? false,
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
                k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active',
              ]
                .filter(Boolean)
                .join('  '),
            )
            .join('\n') || '(no keys)',
      );
    });

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

  const audit = program.command('audit').description('audit trail');
  audit
    .command('verify')
    .description(
      "re-compute every merchant's hash chain; exits 1 and names the first bad event if one was altered, removed, inserted or reordered, or left unsealed for more than a minute",
    )
    .option('--merchant <id>', 'only this merchant')
    .option('--checkpoint <file>', 'also prove each chain still extends the signed heads `audit checkpoint` printed into FILE')
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant?: string; checkpoint?: string; json?: boolean }) => {
      const report = await withApp(async (app) => {
        const checkpoints = opts.checkpoint
          ? checkpointHeads(await readFile(opts.checkpoint, 'utf8'), await auditSigningKey(app))
          : undefined;
        return verifyAuditChain(app, opts.merchant, { checkpoints });
      }, false);
      const bad = report.firstBad;
      print(
        {
          ok: !bad,
          merchants: report.merchants,
          events: report.events,
          unsealed: report.unsealed,
          ...(bad && { firstBad: { ...bad, seq: bad.seq === null ? null : Number(bad.seq) } }),
        },
        opts.json,
        () =>
          bad
            ? `BROKEN at event ${bad.id} (merchant ${bad.merchantId}${bad.seq === null ? ', unsealed' : `, #${bad.seq}`}): ${bad.problem}`
            : `ok: ${report.events} event(s) of ${report.merchants} merchant(s) verified` +
              (report.unsealed > 0 ? `; ${report.unsealed} recent event(s) not sealed yet` : '') +
              (opts.checkpoint ? '; every chain extends its checkpoint' : ''),
      );
      if (bad) process.exitCode = 1;
    });
  audit
    .command('seal')
    .description(
      'link committed audit events into their chains now (unless a running server is the elected sealer: it does within a second)',
    )
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      const result = await withApp((app) => sealAsCli(app), false);
      print(result, opts.json, () =>
        result.leader ? `sealed ${result.sealed} event(s)` : 'another process is the sealer: it links new events within a second',
      );
    });
  audit
    .command('checkpoint')
    .description("print every merchant's chain head signed with VAULT_AUDIT_SIGNING_KEY (Ed25519), as JSON: keep it outside the database")
    .option('--merchant <id>', 'only this merchant')
    .action(async (opts: { merchant?: string }) => {
      const checkpoints = await withApp(async (app) => {
        // Sign what has been committed so far.
        await sealAsCli(app);
        return createCheckpoints(app, await auditSigningKey(app), opts.merchant);
      }, false);
      process.stdout.write(`${JSON.stringify({ checkpoints }, null, 2)}\n`);
    });

  const db = program.command('db').description('database');
  db.command('migrate')
    .description('apply pending migrations')
    .action(async () => {
      await withApp(async () => undefined);
      process.stdout.write('migrations up to date\n');
    });

  return program;
}

async function main(): Promise<void> {
  try {
    await buildCli().parseAsync(process.argv);
  } catch (err) {
    const known =
      err instanceof VaultError || err instanceof ConfigError || err instanceof InvalidArgumentError || err instanceof CheckpointError;
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!known) log.error({ err }, 'command failed');
    process.exitCode = 1;
  }
}

await main();
