import type { Mode } from '../../generated/prisma/enums.js';
import { createSandboxUpdater } from './sandbox.js';
import type { AccountUpdater } from './types.js';

export type { AccountUpdater, UpdaterAnswer } from './types.js';

/** The account updater of each mode: test mode has the sandbox; no live updater ships with this build. */
export type Updaters = Readonly<Record<Mode, AccountUpdater | undefined>>;

export function createUpdaters(): Updaters {
  return { TEST: createSandboxUpdater(), LIVE: undefined };
}
