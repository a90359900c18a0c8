import type { App } from '../../app/app.js';
import { lockPaymentMethod } from './store.js';
import { connectorFor, type Connector } from '../../integrations/connectors/index.js';
import type { Tx } from '../../db/client.js';
import { openField } from '../../db/encryption.js';
import { ConnectorUnavailable } from '../shared/errors.js';
import type { PspToken, TokenizationType } from '../../generated/prisma/client.js';
import { newId } from '../shared/ids.js';
import { tenant, type Principal } from '../shared/principal.js';

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
    await tx.pspToken.updateMany({
      where: { ...tenant(principal), paymentMethodId, connectorId: token.connectorId, status: 'ACTIVE' },
      data: { status: 'INACTIVE' },
    });
    return tx.pspToken.create({
      data: {
        ...tenant(principal),
        id: newId('pspt'),
        paymentMethodId,
        connectorId: token.connectorId,
        token: token.token,
        tokenizationType: token.tokenizationType,
        connectorTokenRequestReferenceId: token.requestReferenceId ?? null,
      },
    });
  };
  return client ? write(client) : app.db.prisma.$transaction(write);
}

/** The active token of a connector, if it is a reusable one (then PSP tokenization need not ask again). */
export async function activeMultiUseToken(app: App, principal: Principal, paymentMethodId: string, connectorId: string) {
  return app.db.prisma.pspToken.findFirst({
    where: { ...tenant(principal), paymentMethodId, connectorId, status: 'ACTIVE', tokenizationType: 'MULTI_USE' },
    orderBy: { createdAt: 'desc' },
  });
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
  const { prisma, keyring } = app.db;
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await prisma.pspToken.findFirst({
      where: { ...tenant(principal), paymentMethodId, connectorId, status: 'ACTIVE' },
      orderBy: { createdAt: 'desc' },
    });
    if (!row) return null;
    const single = row.tokenizationType === 'SINGLE_USE';
    const { count } = await prisma.pspToken.updateMany({
      where: { ...tenant(principal), id: row.id, status: 'ACTIVE' },
      data: single ? { status: 'INACTIVE', usedAt: now } : { usedAt: now },
    });
    if (count === 1) return openField(keyring, 'PspToken', 'token', row);
  }
  return null;
}

/** A token as a merchant sees it (the token value opened). */
export function pspTokenValue(app: App, row: Pick<PspToken, 'merchantId' | 'id' | 'token'>): Promise<string | null> {
  return openField(app.db.keyring, 'PspToken', 'token', row);
}
