import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { migrate } from '../src/db/migrate.js';
import { createTestDatabase } from './helpers/db.js';
import { cvcLike, dumpDatabase, ibanLike, leakLines, panLike, panLikeInDump } from './helpers/scan.js';
import { startServerProcess, stopProcess } from './helpers/serverProcess.js';

// One database and one real server process for the run: tests talk to it over HTTP with the generated
// client, and each test creates its own merchant, so files run in parallel without truncating tables.
// The server's whole log is kept in a file that the hygiene test scans for card data.
export default async function setup(project: TestProject) {
  const given = process.env.VAULT_TEST_DATABASE_URL;
  const created = given ? undefined : await createTestDatabase();
  const databaseUrl = given ?? created!.url;
  await migrate(databaseUrl);

  const logDir = mkdtempSync(path.join(tmpdir(), 'vault-test-'));
  const serverLog = path.join(logDir, 'server.log');
  const server = await startServerProcess(databaseUrl, serverLog);
  project.provide('databaseUrl', databaseUrl);
  project.provide('graphqlUrl', server.url);
  project.provide('serverLog', serverLog);

  return async () => {
    await stopProcess(server.child);
    // After the whole run: the database as pg_dump writes it and every line any server of the run logged
    // may hold no card number, no CVC and no IBAN in the clear.
    const dump = await dumpDatabase(databaseUrl);
    const log = readFileSync(serverLog, 'utf8');
    const leaks = [...panLikeInDump(dump), ...panLike(log), ...cvcLike(dump), ...cvcLike(log), ...ibanLike(dump), ...ibanLike(log)];
    await created?.drop();
    console.log(
      `card and account data hygiene: scanned ${dump.length} bytes of pg_dump and ${log.length} bytes of server logs: ${leaks.length} leak(s)`,
    );
    if (leaks.length > 0) {
      // vitest only logs an error thrown here, so fail the run explicitly.
      console.error(`FAIL card data hygiene: ${leaks.length} card-number-, CVC- or IBAN-shaped value(s) in the database or ${serverLog}`);
      for (const line of [...leakLines(dump, { dump: true }), ...leakLines(log)]) console.error(`  ${line}`);
      process.exitCode = 1;
    }
  };
}
