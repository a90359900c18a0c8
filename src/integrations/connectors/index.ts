import { ConnectorUnavailable } from '../../domain/shared/errors.js';
import type { Mode } from '../../generated/prisma/enums.js';
import type { Principal } from '../../domain/shared/principal.js';
import { SANDBOX_CONNECTOR_ID, sandboxConnector } from './sandbox.js';
import type { AuthorizeResult, Connector, PaymentSource } from './types.js';
import { ibanAccountNumbers } from '../../card/bankAccount.js';
import { maskCardData } from '../../card/mask.js';
import type { Secret } from '../../crypto/secret.js';
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

/** Upstream free text kept at most this long (a hostile or broken PSP's megabyte is not scanned nor stored). */
const MAX_UPSTREAM_TEXT = 2_000;

/**
 * A connector's answer as the vault keeps it. The PSP's free text (`failureCode`, `failureMessage`) is stored
 * in the clear and shown to the merchant: anything in it that looks like a card number or IBAN is masked as
 * logs mask it, and so is every value this payment sent (`sent`: the card, the PSP or network token, the
 * cryptogram, the account), however the PSP wrote it back (src/card/mask.ts). Its reference and redirect URL
 * are ids: masked by pattern, one numeric reference in ten (Luhn-valid by chance) would stop working, so only
 * the values sent are masked there (the payment then cannot be captured through it: a clean upstream error,
 * never a number in the clear). A field that is not text is dropped rather than failing a payment the PSP
 * has already authorized.
 */
export function fromUpstream(result: AuthorizeResult, sent: readonly PaymentSource[]): AuthorizeResult {
  const secrets = secretsOf(sent);
  // Not the CVC in ids: three digits standing alone in a redirect URL (`?step=737`) are far likelier a
  // coincidence than an echo, and starring them would break the customer's authentication.
  const withoutCvc = secretsOf(sent, { cvc: false });
  const id = (value: unknown) => (typeof value === 'string' ? maskCardData(value, withoutCvc, { patterns: false }) : undefined);
  const prose = (value: unknown) =>
    typeof value === 'string' ? maskCardData(scrubText(truncate(value, MAX_UPSTREAM_TEXT)), secrets) : undefined;
  const { reference, redirectUrl, failureCode, failureMessage, ...rest } = result;
  const kept: AuthorizeResult = { ...rest, reference: id(reference) ?? null };
  const url = id(redirectUrl);
  const code = prose(failureCode);
  const message = prose(failureMessage);
  return {
    ...kept,
    ...(url !== undefined && { redirectUrl: url }),
    ...(code !== undefined && { failureCode: code }),
    ...(message !== undefined && { failureMessage: message }),
  };
}

/** An id a connector or token service returned, as the vault keeps it: the secrets it was sent (a card or token number) masked (see fromUpstream). */
export function upstreamId(value: string, sent: readonly Secret<string>[]): string {
  return maskCardData(
    value,
    sent.map((s) => s.reveal()),
    { patterns: false },
  );
}

/** Every value a payment source hands upstream that must never come back into the database in the clear. */
function secretsOf(sent: readonly PaymentSource[], { cvc = true } = {}): string[] {
  const out: string[] = [];
  for (const source of sent) {
    if (source.type === 'card') out.push(source.card.number.reveal(), ...(cvc && source.card.cvc ? [source.card.cvc.reveal()] : []));
    else if (source.type === 'psp_token') out.push(source.token);
    else if (source.type === 'network_token') out.push(source.networkToken.number.reveal(), source.networkToken.cryptogram);
    else {
      // An IBAN as written and compact, its domestic part (BBAN: bank code and account number, which a PSP
      // may write apart, `blz 37040044 kto 0532013000`: its digits stand together in the answer's digits-only
      // projection), and its account number alone, in any order with the bank code (ibanAccountNumbers); an
      // account number (ACH, BACS) as its digits.
      const number = source.bankAccount.number.reveal();
      const compact = number.replace(/\s+/g, '');
      out.push(number, compact);
      if (/^[A-Z]{2}\d{2}/i.test(compact)) out.push(compact.slice(4), ...ibanAccountNumbers(compact));
    }
  }
  return out.filter((s) => s.length >= 3);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
