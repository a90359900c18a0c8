import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { insertDocuments } from '../../src/domain/trustedDocuments/store.js';
import { documentIdOf } from '../../src/domain/trustedDocuments/trustedDocuments.js';
import { createTestDatabase, withTestApp, type TestDatabase } from '../helpers/db.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';

// VAULT_TRUSTED_DOCUMENTS=require with nothing registered refuses every GraphQL request: the server says so
// once, when it starts, rather than leaving an operator to find out from the refusals.

const logDir = mkdtempSync(path.join(tmpdir(), 'vault-trusted-startup-'));
const WARNING = /VAULT_TRUSTED_DOCUMENTS=require but no document is registered/;
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  await migrate(database.url);
});
afterAll(async () => {
  await database?.drop();
});

/** The log of a server started (and stopped) with VAULT_TRUSTED_DOCUMENTS=require. */
async function startupLog(name: string): Promise<string> {
  const logFile = path.join(logDir, `${name}.log`);
  const server = await startServerProcess(database.url, logFile, { VAULT_TRUSTED_DOCUMENTS: 'require' });
  await stopProcess(server.child);
  return readFileSync(logFile, 'utf8');
}

describe('VAULT_TRUSTED_DOCUMENTS=require at start-up', () => {
  it('warns when no document is registered, and not once one is', async () => {
    expect(await startupLog('empty')).toMatch(WARNING);

    const text = 'query Ping { __typename }';
    await withTestApp(database.url, (app) =>
      insertDocuments(app, [{ id: documentIdOf(text), document: text, operationNames: 'Ping', label: 'test' }]),
    );
    expect(await startupLog('registered')).not.toMatch(WARNING);
  }, 90_000);
});
