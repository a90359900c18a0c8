import { ConnectorUnavailable } from '../../domain/shared/errors.js';
import type { Mode } from '../../generated/prisma/enums.js';
import type { Principal } from '../../domain/shared/principal.js';
import { SANDBOX_CONNECTOR_ID, sandboxConnector } from './sandbox.js';
import type { AuthorizeResult, Connector, PaymentSource } from './types.js';
import { scrubText } from '../../card/scrub.js';

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
 * message quoting the card) is masked as logs mask it. Its reference and redirect URL are ids: masked by
 * pattern, one numeric PSP reference in ten (Luhn-valid by chance) would stop working, so they are kept as
 * sent unless they hold the very number this payment sent (`source`): a PSP echoing the card or account
 * number as its reference would otherwise put it in the database in the clear. Such a reference is masked
 * (the payment can then not be captured or refunded through it: a clean upstream error, never a leak).
 */
export function fromUpstream(result: AuthorizeResult, source?: PaymentSource): AuthorizeResult {
  const sent = sentNumber(source);
  const withoutSent = (text: string) => (sent && digitsOf(text).includes(sent) ? maskSent(text, sent) : text);
  const mask = (text: string) => withoutSent(scrubText(text));
  return {
    ...result,
    ...(result.reference !== null && { reference: withoutSent(result.reference) }),
    ...(result.redirectUrl !== undefined && { redirectUrl: withoutSent(result.redirectUrl) }),
    ...(result.failureCode !== undefined && { failureCode: mask(result.failureCode) }),
    ...(result.failureMessage !== undefined && { failureMessage: mask(result.failureMessage) }),
  };
}

/** The digits of the number a payment sent upstream (card, network token, account number or IBAN's), when long enough to matter. */
function sentNumber(source: PaymentSource | undefined): string | undefined {
  const secret =
    source?.type === 'card'
      ? source.card.number
      : source?.type === 'network_token'
        ? source.networkToken.number
        : source?.type === 'bank_account'
          ? source.bankAccount.number
          : undefined;
  const digits = secret === undefined ? '' : digitsOf(secret.reveal());
  return digits.length >= 6 ? digits : undefined;
}

const digitsOf = (text: string) => text.replace(/\D/g, '');

/** `text` with every digit of each occurrence of `digits` (separators between them allowed) starred but the last four. */
function maskSent(text: string, digits: string): string {
  const positions: number[] = [];
  for (let i = 0; i < text.length; i++) if (text[i]! >= '0' && text[i]! <= '9') positions.push(i);
  const all = positions.map((i) => text[i]).join('');
  const out = [...text];
  for (let at = all.indexOf(digits); at >= 0; at = all.indexOf(digits, at + digits.length)) {
    for (let k = at; k < at + digits.length - 4; k++) out[positions[k]!] = '*';
  }
  return out.join('');
}
