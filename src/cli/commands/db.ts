import type { Command } from 'commander';
import { withApp } from '../shared.js';

/** `db migrate`. */
export function registerDb(program: Command): void {
  const db = program.command('db').description('database');
  db.command('migrate')
    .description('apply pending migrations')
    .action(async () => {
      await withApp(async () => undefined);
      process.stdout.write('migrations up to date\n');
    });
}
