import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { verifyAuditChain } from '../../domain/audit/audit.js';
import { formatAuditPublicKey } from '../../crypto/auditSigningKey.js';
import {
  auditSigningKey,
  checkpointHeads,
  checkpointVerifier,
  createCheckpoints,
  type CheckpointVerifier,
} from '../../domain/audit/checkpoint.js';
import { parseConfig } from '../../app/config.js';
import { log, print, sealAsCli, withApp, withReadOnlyApp } from '../shared.js';

/** `audit verify|seal|checkpoint|public-key`: the audit trail's hash chains. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('audit trail');
  audit
    .command('verify')
    .description(
      "re-compute every merchant's hash chain; exits 1 and names the first bad event if one was altered, removed, inserted or reordered, or left unsealed for more than a minute. Read-only: needs no master key and runs under a role that may only SELECT",
    )
    .option('--merchant <id>', 'only this merchant')
    .option('--checkpoint <file>', 'also prove each chain still extends the signed heads `audit checkpoint` printed into FILE')
    .option(
      '--public-key <key>',
      'check the checkpoint signatures with this public key (a file, or the key: what `audit public-key` prints, id:base64 or PEM); default: the configured VAULT_AUDIT_SIGNING_KEY',
    )
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant?: string; checkpoint?: string; publicKey?: string; json?: boolean }) => {
      let verifier: CheckpointVerifier | undefined;
      // Read-only, without master keys: what an auditor runs under a SELECT-only role.
      const report = await withReadOnlyApp(async (app) => {
        let checkpoints: ReturnType<typeof checkpointHeads> | undefined;
        if (opts.checkpoint) {
          verifier = await checkpointVerifier(app, opts.publicKey);
          checkpoints = checkpointHeads(await readFile(opts.checkpoint, 'utf8'), verifier);
        }
        return verifyAuditChain(app, opts.merchant, { checkpoints });
      });
      const bad = report.firstBad;
      const signer = verifier && {
        source: verifier.source,
        keyId: verifier.key.id ?? null,
        publicKey: verifier.key.publicKey,
        shown: formatAuditPublicKey(verifier.key),
      };
      print(
        {
          ok: !bad,
          merchants: report.merchants,
          events: report.events,
          unsealed: report.unsealed,
          ...(signer && { checkpointKey: { source: signer.source, keyId: signer.keyId, publicKey: signer.publicKey } }),
          ...(bad && { firstBad: { ...bad, seq: bad.seq === null ? null : Number(bad.seq) } }),
        },
        opts.json,
        () =>
          bad
            ? `BROKEN at event ${bad.id} (merchant ${bad.merchantId}${bad.seq === null ? ', unsealed' : `, #${bad.seq}`}): ${bad.problem}`
            : `ok: ${report.events} event(s) of ${report.merchants} merchant(s) verified` +
              (report.unsealed > 0 ? `; ${report.unsealed} recent event(s) not sealed yet` : '') +
              (signer
                ? `; every chain extends its checkpoint, signed by ${signer.source === 'pinned' ? 'the pinned public key' : 'the configured VAULT_AUDIT_SIGNING_KEY (not pinned: an auditor passes --public-key)'} ${signer.shown}`
                : ''),
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
  audit
    .command('public-key')
    .description(
      'print the public key that checks checkpoints (id:base64 of the raw Ed25519 key; --pem: PEM): give it to auditors for `audit verify --checkpoint F --public-key K`',
    )
    .option('--pem', 'print it as PEM (SubjectPublicKeyInfo, as OpenSSL reads it)')
    .option('--json', 'print one JSON object: keyId, publicKey (base64 of the raw key), pem')
    .action(async (opts: { pem?: boolean; json?: boolean }) => {
      // No database needed: the key comes from the configuration (or the development key file).
      const key = await auditSigningKey({ config: parseConfig(), log });
      print({ keyId: key.id, publicKey: key.publicKey, pem: key.pem }, opts.json, () =>
        opts.pem ? key.pem.trimEnd() : formatAuditPublicKey(key),
      );
    });
}
