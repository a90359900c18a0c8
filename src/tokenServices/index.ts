import { createHmac } from 'node:crypto';
import { db } from '../db/client.js';
import { ConnectorUnavailable } from '../errors.js';
import type { Mode } from '../generated/prisma/enums.js';
import { createSandboxTsp, SANDBOX_TSP_ID } from './sandbox.js';
import type { TokenServiceProvider } from './types.js';

export type { TokenServiceProvider } from './types.js';

/** The sandbox TSP's webhook secrets: one per master key, the active key's first. */
function sandboxWebhookSecrets(): Buffer[] {
  const { master } = db().keyring;
  return master.ids.map((id) => createHmac('sha256', master.get(id)!.reveal()).update('vault sandbox tsp webhook v1').digest());
}

export const sandboxTsp = createSandboxTsp(sandboxWebhookSecrets);

// Like connectors: test keys get the sandbox, and no live TSP ships with this build.
const TSPS: Readonly<Record<Mode, ReadonlyMap<string, TokenServiceProvider>>> = {
  TEST: new Map([[SANDBOX_TSP_ID, sandboxTsp]]),
  LIVE: new Map(),
};

/** The token service provider of the mode (the one that issued a token, given its id). */
export function tspFor(mode: Mode, id: string = SANDBOX_TSP_ID): TokenServiceProvider {
  const tsp = TSPS[mode].get(id);
  if (!tsp) throw new ConnectorUnavailable(`No token service provider is configured for ${mode.toLowerCase()} mode`);
  return tsp;
}

/** Any mode's TSP by id: webhook deliveries carry no api key, so no mode. */
export function tspById(id: string): TokenServiceProvider | undefined {
  return TSPS.TEST.get(id) ?? TSPS.LIVE.get(id);
}
