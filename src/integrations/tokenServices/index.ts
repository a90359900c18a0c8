import { createHmac } from 'node:crypto';
import type { MasterKeyRing } from '../../crypto/masterKeys.js';
import { ConnectorUnavailable } from '../../domain/shared/errors.js';
import type { Mode } from '../../generated/prisma/enums.js';
import { createSandboxTsp, SANDBOX_TSP_ID } from './sandbox.js';
import type { TokenServiceProvider } from './types.js';

export type { TokenServiceProvider } from './types.js';

export interface TokenServices {
  readonly sandbox: ReturnType<typeof createSandboxTsp>;
  readonly byMode: Readonly<Record<Mode, ReadonlyMap<string, TokenServiceProvider>>>;
}

/** The sandbox TSP's webhook secrets: one per master key, the active key's first. */
function sandboxWebhookSecrets(master: MasterKeyRing): Buffer[] {
  return master.ids.map((id) => createHmac('sha256', master.get(id)!.reveal()).update('vault sandbox tsp webhook v1').digest());
}

/** The app's token service providers. Like connectors: test keys get the sandbox, and no live TSP ships with this build. */
export function createTokenServices(master: MasterKeyRing, clock: () => Date): TokenServices {
  const sandbox = createSandboxTsp(() => sandboxWebhookSecrets(master), clock);
  return { sandbox, byMode: { TEST: new Map([[SANDBOX_TSP_ID, sandbox]]), LIVE: new Map() } };
}

/** The token service provider of the mode (the one that issued a token, given its id). */
export function tspFor(services: TokenServices, mode: Mode, id: string = SANDBOX_TSP_ID): TokenServiceProvider {
  const tsp = services.byMode[mode].get(id);
  if (!tsp) throw new ConnectorUnavailable(`No token service provider is configured for ${mode.toLowerCase()} mode`);
  return tsp;
}

/** Any mode's TSP by id: webhook deliveries carry no api key, so no mode. */
export function tspById(services: TokenServices, id: string): TokenServiceProvider | undefined {
  return services.byMode.TEST.get(id) ?? services.byMode.LIVE.get(id);
}
