import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedDatabaseInUse, lockDataDir } from '../../src/db/embedded.js';

// The embedded database's folder lock (src/db/embedded.ts): one process at a time, also when several start at
// the same instant and the lock left behind is a killed process's.

const root = mkdtempSync(path.join(tmpdir(), 'vault-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * A process that takes the lock (once `go` exists, when given: every contender loaded and waiting, so they
 * all try within a millisecond or two), holds it `holdMs`, releases it; prints READY, then LOCKED or BUSY.
 */
function contender(dataDir: string, holdMs: number, go?: string): { ready: Promise<void>; outcome: Promise<string> } {
  const code = `
    const { existsSync } = await import('node:fs');
    const { lockDataDir } = await import(${JSON.stringify(path.resolve('src/db/embedded.ts'))});
    process.stdout.write('READY ');
    const go = ${JSON.stringify(go ?? null)};
    while (go && !existsSync(go)) await new Promise((r) => setTimeout(r, 1));
    try {
      const unlock = await lockDataDir(${JSON.stringify(dataDir)});
      process.stdout.write('LOCKED');
      await new Promise((r) => setTimeout(r, ${holdMs}));
      await unlock();
    } catch (err) {
      process.stdout.write(err.name === 'EmbeddedDatabaseInUse' ? 'BUSY' : 'ERROR ' + err.message);
    }`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code]);
  let out = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.startsWith('READY')) onReady();
  });
  const outcome = new Promise<string>((resolve) => child.on('close', () => resolve(out.replace(/^READY /, ''))));
  return { ready, outcome };
}

describe('embedded database folder lock', () => {
  it('refuses a second holder while the first lives, and takes over the lock of a process that is gone', async () => {
    const dataDir = path.join(root, 'a');
    const unlock = await lockDataDir(dataDir);
    expect(await contender(dataDir, 0).outcome).toBe('BUSY');
    await unlock();
    expect(await contender(dataDir, 0).outcome).toBe('LOCKED');
    // A killed process's lock (its pid no longer runs), an empty one and garbage: all taken over.
    for (const stale of ['2147483646\n', '', 'not a pid']) {
      writeFileSync(`${dataDir}.lock`, stale);
      const release = await lockDataDir(dataDir);
      await expect(lockDataDir(dataDir).then(() => 'locked twice')).resolves.toBe('locked twice'); // same process: its own
      await release();
    }
    await expect(
      (async () => {
        writeFileSync(`${dataDir}.lock`, `${process.ppid}\n`);
        return lockDataDir(dataDir);
      })(),
    ).rejects.toBeInstanceOf(EmbeddedDatabaseInUse);
    rmSync(`${dataDir}.lock`);
  });

  it('gives a stale lock to exactly one of several processes breaking it at once', { timeout: 120_000 }, async () => {
    for (let trial = 0; trial < 4; trial++) {
      const dataDir = path.join(root, `race-${trial}`);
      writeFileSync(`${dataDir}.lock`, '2147483646\n');
      const go = path.join(root, `go-${trial}`);
      const contenders = Array.from({ length: 4 }, () => contender(dataDir, 1_500, go));
      await Promise.all(contenders.map((c) => c.ready));
      writeFileSync(go, '');
      const outcomes = await Promise.all(contenders.map((c) => c.outcome));
      expect(
        outcomes.filter((o) => o === 'LOCKED'),
        outcomes.join(' '),
      ).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'BUSY')).toHaveLength(3);
    }
    // Nothing left behind but the folders' parent entries: no temporary or moved-aside lock files.
    expect(readdirSync(root).filter((f) => f.includes('.lock.'))).toEqual([]);
  });
});
