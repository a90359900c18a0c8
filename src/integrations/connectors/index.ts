import { ConnectorUnavailable } from '../../domain/shared/errors.js';
import type { Mode } from '../../generated/prisma/enums.js';
import type { Principal } from '../../domain/shared/principal.js';
import { SANDBOX_CONNECTOR_ID, sandboxConnector } from './sandbox.js';
import type { AuthorizeResult, Connector } from './types.js';
import { maskPans } from '../../card/pan.js';
import { maskIbans } from '../../card/bankAccount.js';

export type { Connector } from './types.js';

interface ModeConnectors {
  byId: ReadonlyMap<string, Connector>;
  defaultId?: string;
}

export type Connectors = Readonly<Record<Mode, ModeConnectors>>;

/**
 * The app's connectors. Test keys never reach a real PSP, and live keys never reach the sandbox. No live
 * connector ships with this build: a live-mode payment is refused rather than pretended.
 */
export function createConnectors(): Connectors {
  return {
    TEST: { byId: new Map([[SANDBOX_CONNECTOR_ID, sandboxConnector]]), defaultId: SANDBOX_CONNECTOR_ID },
    LIVE: { byId: new Map() },
  };
}

/** The connector for a payment: the one named, or the default of the key's mode. */
export function connectorFor(connectors: Connectors, principal: Principal, connectorId?: string): Connector {
  const { byId, defaultId } = connectors[principal.mode];
  const id = connectorId ?? defaultId;
  const connector = id === undefined ? undefined : byId.get(id);
  if (connector) return connector;
  // The id is the caller's input: not repeated in the message.
  throw new ConnectorUnavailable(
    connectorId === undefined
      ? `No payment connector is configured for ${principal.mode.toLowerCase()} mode`
      : `This connector is not available in ${principal.mode.toLowerCase()} mode`,
  );
}

/**
 * A connector's answer as the vault keeps it: the PSP's free text (`failureCode`, `failureMessage`) is stored
 * in the clear and shown to the merchant, so a card number or IBAN an upstream echoes there (a decline
 * message quoting the card) is masked as logs mask it. Its reference and redirect URL are kept as sent (an
 * id or a URL masked would no longer work).
 */
export function fromUpstream(result: AuthorizeResult): AuthorizeResult {
  const mask = (text: string | undefined) => (text === undefined ? undefined : maskIbans(maskPans(text)));
  return {
    ...result,
    ...(result.failureCode !== undefined && { failureCode: mask(result.failureCode) }),
    ...(result.failureMessage !== undefined && { failureMessage: mask(result.failureMessage) }),
  };
}
