import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { createTestDatabase, withTestApp, type TestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';

// A server whose VAULT_MASTER_KEYS cannot open the database's data keys refuses to start, naming the master
// key id (never key material); before, it started and /readyz said 200 while every request failed.

const logDir = mkdtempSync(path.join(tmpdir(), 'vault-master-keys-'));
const WRONG_TEST1 = Buffer.alloc(32, 9).toString('base64');
const OTHER = Buffer.alloc(32, 11).toString('base64');
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  await migrate(database.url);
  // Data keys wrapped under master key "test1".
  await withTestApp(database.url, (app) => createMerchant(app, { name: 'Master key check' }));
});
afterAll(async () => {
  await database?.drop();
});

async function startFails(name: string, masterKeys: string): Promise<string> {
  const logFile = path.join(logDir, `${name}.log`);
  const outcome = await startServerProcess(database.url, logFile, { VAULT_MASTER_KEYS: masterKeys }).then(
    async (server) => {
      await stopProcess(server.child);
      return 'started';
    },
    (err: Error) => err.message,
  );
  expect(outcome).toMatch(/server exited with 78/);
  return readFileSync(logFile, 'utf8');
}

describe('master keys proven at start-up', () => {
  it('refuses to start with a wrong key for an id that wraps data keys, naming the id and not the key', async () => {
    const out = await startFails('wrong', `test1:${WRONG_TEST1}`);
    expect(out).toMatch(/Master key "test1" in VAULT_MASTER_KEYS does not unwrap/);
    expect(out).not.toContain(WRONG_TEST1);
    expect(out).not.toContain(TEST_MASTER_KEYS.split(':')[1]);
  });

  it('refuses to start when an id that wraps data keys is missing, naming it', async () => {
    const out = await startFails('missing', `other:${OTHER}`);
    expect(out).toMatch(/Master key "test1" wraps data keys in the database but is not in VAULT_MASTER_KEYS/);
    expect(out).not.toContain(OTHER);
  });

  it('starts with the right key, also beside a new active key', async () => {
    const server = await startServerProcess(database.url, path.join(logDir, 'right.log'), {
      VAULT_MASTER_KEYS: `other:${OTHER},${TEST_MASTER_KEYS}`,
    });
    try {
      expect((await fetch(new URL('/readyz', server.url))).status).toBe(200);
    } finally {
      await stopProcess(server.child);
    }
  });
});
