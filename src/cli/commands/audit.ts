import type { Command } from 'commander';
import { verifyAuditChain } from '../../domain/audit/audit.js';
import { print, withApp } from '../shared.js';

/** `audit verify`: the audit trail's hash chains. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('audit trail');
  audit
    .command('verify')
    .description("re-compute every merchant's hash chain; exits 1 and names the first bad event if one was altered")
    .option('--merchant <id>', 'only this merchant')
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant?: string; json?: boolean }) => {
      const report = await withApp((app) => verifyAuditChain(app, opts.merchant));
      const bad = report.firstBad;
      print(
        { ok: !bad, merchants: report.merchants, events: report.events, ...(bad && { firstBad: { ...bad, seq: Number(bad.seq) } }) },
        opts.json,
        () =>
          bad
            ? `BROKEN at event ${bad.id} (merchant ${bad.merchantId}, #${bad.seq}): ${bad.problem}`
            : `ok: ${report.events} event(s) of ${report.merchants} merchant(s) verified`,
      );
      if (bad) process.exitCode = 1;
    });
}
