import { InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { createApp, type App } from '../app/app.js';
import { parseConfig } from '../app/config.js';
import { createLogger } from '../app/logger.js';

// What every command shares. Results go to stdout (one JSON document with --json); logs go to stderr so
// stdout stays machine-readable.
export const log = createLogger(process.env.LOG_LEVEL ?? 'warn', pino.destination(2));

/** Each command builds the app from the environment, runs with it, and stops it. */
export async function withApp<T>(fn: (app: App) => Promise<T>): Promise<T> {
  const app = await createApp(parseConfig(), log, { migrate: true });
  try {
    return await fn(app);
  } finally {
    await app.stop();
  }
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
