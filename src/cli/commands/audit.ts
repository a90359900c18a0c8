import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { verifyAuditChain } from '../../domain/audit/audit.js';
import { auditSigningKey, checkpointHeads, createCheckpoints } from '../../domain/audit/checkpoint.js';
import { print, sealAsCli, withApp } from '../shared.js';

/** `audit verify|seal|checkpoint`: the audit trail's hash chains. */
export function registerAudit(program: Command): void {
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
}
