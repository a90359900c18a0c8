import type { App } from '../../app/app.js';
import { findActivePspToken, listPspTokenRows, lockPaymentMethod, markPspTokenUsed, replaceActivePspToken } from './store.js';
import { connectorFor, type Connector } from '../../integrations/connectors/index.js';
import type { Tx } from '../../db/client.js';
import { openField } from '../../db/encryption.js';
import { ConnectorUnavailable } from '../shared/errors.js';
import type { PspToken, TokenizationType } from '../../generated/prisma/client.js';
import type { Principal } from '../shared/principal.js';

// PSP tokens: a payment service provider keeps the card and gives back a token that pays through it. The
// vault keeps tokens sealed on the payment method; at most one is ACTIVE per connector (a newer one retires
// the older), and a payment through that connector uses it instead of the card.

export interface NewPspToken {
  connectorId: string;
  token: string;
  tokenizationType: TokenizationType;
  requestReferenceId?: string | null;
}

/** The connector named for PSP tokenization; it must exist in the key's mode and issue tokens. */
export function tokenizingConnector(
  app: App,
  principal: Principal,
  connectorId: string,
): Connector & Required<Pick<Connector, 'tokenize'>> {
  const connector = connectorFor(app.connectors, principal, connectorId);
  if (!connector.tokenize) throw new ConnectorUnavailable('This connector does not issue tokens');
  return connector as Connector & Required<Pick<Connector, 'tokenize'>>;
}

/**
 * Stores a token on a payment method and retires the connector's previous active one. The payment method's
 * row lock orders concurrent writers, so there is never more than one active token per connector.
 */
export async function recordPspToken(
  app: App,
  principal: Principal,
  paymentMethodId: string,
  token: NewPspToken,
  client?: Tx,
): Promise<PspToken> {
  const write = async (tx: Tx) => {
    await lockPaymentMethod(tx, principal, paymentMethodId);
    return replaceActivePspToken(tx, principal, paymentMethodId, token);
  };
  return client ? write(client) : app.db.prisma.$transaction(write);
}

/** The active token of a connector, if it is a reusable one (then PSP tokenization need not ask again). */
export async function activeMultiUseToken(app: App, principal: Principal, paymentMethodId: string, connectorId: string) {
  return findActivePspToken(app, principal, paymentMethodId, connectorId, 'MULTI_USE');
}

/**
 * Takes the connector's active token for one payment, opened. A SINGLE_USE token is spent by the same
 * conditional update that claims it, so of concurrent payments exactly one gets it (the others pay with
 * what is left: another token, a network token or the card).
 */
export async function claimPspToken(
  app: App,
  principal: Principal,
  paymentMethodId: string,
  connectorId: string,
  now = app.clock(),
): Promise<string | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await findActivePspToken(app, principal, paymentMethodId, connectorId);
    if (!row) return null;
    if (await markPspTokenUsed(app, principal, row.id, row.tokenizationType === 'SINGLE_USE', now)) {
      return openField(app.db.keyring, 'PspToken', 'token', row);
    }
  }
  return null;
}

/** A token as a merchant sees it (the token value opened). */
export function pspTokenValue(app: App, row: Pick<PspToken, 'merchantId' | 'id' | 'token'>): Promise<string | null> {
  return openField(app.db.keyring, 'PspToken', 'token', row);
}

/** The payment method's tokens, newest first (at most 100), as stored (values sealed: pspTokenValue opens one). */
export function listPspTokens(app: App, principal: Principal, paymentMethodId: string): Promise<PspToken[]> {
  return listPspTokenRows(app, principal, paymentMethodId, 100);
}
