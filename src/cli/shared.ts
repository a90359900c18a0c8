import { InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { createApp, type App } from '../app/app.js';
import { parseConfig } from '../app/config.js';
import { createLogger } from '../app/logger.js';
import { sealOnce } from '../domain/audit/sealer.js';

// What every command shares. Results go to stdout (one JSON document with --json); logs go to stderr so
// stdout stays machine-readable.
export const log = createLogger(process.env.LOG_LEVEL ?? 'warn', pino.destination(2));

/**
 * Each command builds the app from the environment, runs with it, and stops it. Before stopping, the command
 * seals the audit events it (or anyone) wrote, unless a server process is the elected sealer: a vault
 * driven by the CLI alone keeps its chains sealed too. `audit verify` does not (it reports what it finds).
 */
export async function withApp<T>(fn: (app: App) => Promise<T>, seal = true): Promise<T> {
  const app = await createApp(parseConfig(), log, { migrate: true });
  try {
    const result = await fn(app);
    if (seal) await sealAsCli(app);
    return result;
  } finally {
    await app.stop();
  }
}

/**
 * For a command that only reads and needs no master key (`audit verify`): nothing is migrated, written or
 * sealed, every transaction is READ ONLY, so an auditor can run it under a SELECT-only role without the keys.
 */
export async function withReadOnlyApp<T>(fn: (app: App) => Promise<T>): Promise<T> {
  const app = await createApp(parseConfig(process.env, { readOnly: true }), log, { readOnly: true });
  try {
    return await fn(app);
  } finally {
    await app.stop();
  }
}

/** One sealing round from the CLI (a no-op when a server holds the sealer's lock). */
export function sealAsCli(app: App) {
  return sealOnce({ databaseUrl: app.sessionDatabaseUrl, pool: app.db.pool, embedded: app.embedded, log: app.log });
}

export function print(value: unknown, json: boolean | undefined, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

export const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

export const lower = (allowed: string[]) => (value: string) => {
  const v = value.toLowerCase();
  if (!allowed.includes(v)) throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}`);
  return v;
};
