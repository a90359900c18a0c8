import type { App } from '../../app/app.js';
import { emitEvent } from '../webhooks/events.js';
import type { Prisma, Tx } from '../../db/client.js';
import { openField } from '../../db/encryption.js';
import { encodeField } from '../../db/encrypted-fields.js';
import type { NetworkToken, NetworkTokenStatus } from '../../generated/prisma/client.js';
import type { LifecycleEvent, ProvisionedToken } from '../../integrations/tokenServices/types.js';
import { isExpired } from '../../card/expiry.js';
import { appendAudit } from '../audit/audit.js';
import type { Principal } from '../shared/principal.js';
import {
  deleteAppliedEventsBefore,
  findNetworkTokenRow,
  insertNetworkToken,
  networkTokensByReference,
  recordAppliedEvent,
  updateNetworkTokenRow,
} from './store.js';

// Network tokens: a token service provider (TSP) issues a token for the card on the card network itself;
// payments send it with a fresh cryptogram instead of the card number. The TSP keeps it current by pushing
// lifecycle events (suspend, resume, delete, new expiry) to the vault's webhook endpoint.

export interface NetworkTokenView {
  status: NetworkTokenStatus;
  last4: string;
  expMonth: number;
  expYear: number;
  tokenReferenceId: string;
}

/** The payment method's network token row, if any (any status). */
export function findNetworkToken(app: App, principal: Principal, paymentMethodId: string, client: Tx | Prisma = app.db.prisma) {
  return findNetworkTokenRow(client, principal, paymentMethodId);
}

/**
 * Keeps a provisioned token on the payment method: a new row, or in place of a DELETED one. A payment method
 * that meanwhile got a live token (a concurrent duplicate tokenization) keeps it.
 */
export async function storeNetworkToken(
  app: App,
  principal: Principal,
  paymentMethodId: string,
  tspId: string,
  token: ProvisionedToken,
  now = app.clock(),
  client: Tx | Prisma = app.db.prisma,
) {
  const values = {
    tspId,
    tokenReferenceId: token.tokenReferenceId,
    number: encodeField('NetworkToken', 'number', token.number),
    expiry: encodeField('NetworkToken', 'expiry', { month: token.expMonth, year: token.expYear }),
    last4: token.last4,
    status: 'ACTIVE' as const,
    lastEventAt: now,
  };
  const existing = await findNetworkToken(app, principal, paymentMethodId, client);
  if (existing) {
    if (existing.status !== 'DELETED') return existing;
    return updateNetworkTokenRow(client, principal.merchantId, existing.id, values);
  }
  const created = await insertNetworkToken(client, principal, paymentMethodId, values);
  return created ?? (await findNetworkToken(app, principal, paymentMethodId, client))!;
}

const views = new WeakMap<NetworkToken, Promise<NetworkTokenView>>();

/** The token as merchants see it; its expiry is opened once per row however many fields ask for it. */
export function networkTokenView(app: App, row: NetworkToken): Promise<NetworkTokenView> {
  let view = views.get(row);
  if (!view) {
    view = openField(app.db.keyring, 'NetworkToken', 'expiry', row).then((expiry) => {
      if (!expiry) throw new Error(`network token ${row.id} has no expiry`);
      return { status: row.status, last4: row.last4, expMonth: expiry.month, expYear: expiry.year, tokenReferenceId: row.tokenReferenceId };
    });
    views.set(row, view);
  }
  return view;
}

/** The payment method's network token if a payment may use it now (ACTIVE and not expired), opened. */
export async function usableNetworkToken(app: App, principal: Principal, paymentMethodId: string, now = app.clock()) {
  const row = await findNetworkToken(app, principal, paymentMethodId);
  if (row?.status !== 'ACTIVE') return null;
  const { keyring } = app.db;
  const [number, expiry] = await Promise.all([
    openField(keyring, 'NetworkToken', 'number', row),
    openField(keyring, 'NetworkToken', 'expiry', row),
  ]);
  if (!expiry) throw new Error(`network token ${row.id} has no expiry`);
  if (!number || isExpired(expiry.month, expiry.year, now)) return null;
  return { row, number, expMonth: expiry.month, expYear: expiry.year };
}

const STATUS_AFTER: Record<LifecycleEvent['type'], NetworkTokenStatus | null> = {
  'token.suspended': 'SUSPENDED',
  'token.resumed': 'ACTIVE',
  'token.deleted': 'DELETED',
  'token.updated': null,
};

/**
 * How long an applied event id is remembered: far past the TSP's signature window (5 minutes), after which a
 * replayed delivery is refused for its signature anyway.
 */
const APPLIED_EVENT_RETENTION_MS = 24 * 60 * 60 * 1000;

/**
 * Applies a lifecycle event from a TSP to every token it names. DELETED is final; an event older than the
 * last one applied is ignored (deliveries can arrive out of order), and an event already applied to a token
 * (a delivery retried or replayed) is not applied or audited again: its id is recorded with the change, in the
 * same transaction. Each change is audited in its own transaction. Returns how many tokens changed.
 */
export async function applyLifecycleEvent(app: App, tspId: string, event: LifecycleEvent, now = app.clock()): Promise<number> {
  const occurredAt = new Date(event.occurredAt);
  const rows = await networkTokensByReference(app, tspId, event.tokenReferenceId);
  let changed = 0;
  for (const row of rows) {
    if (row.status === 'DELETED' || (row.lastEventAt && row.lastEventAt > occurredAt)) continue;
    const status = STATUS_AFTER[event.type] ?? row.status;
    const data = {
      status,
      lastEventAt: occurredAt,
      ...(event.type === 'token.updated' && {
        expiry: encodeField('NetworkToken', 'expiry', { month: event.expMonth!, year: event.expYear! }),
        ...(event.last4 && { last4: event.last4 }),
      }),
    };
    const applied = await app.db.prisma.$transaction(async (tx) => {
      // Insert-or-ignore: a concurrent delivery of the same event waits on the key, then finds it taken.
      const first = await recordAppliedEvent(tx, {
        merchantId: row.merchantId,
        networkTokenId: row.id,
        tspId,
        eventId: event.id,
        expiresAt: new Date(now.getTime() + APPLIED_EVENT_RETENTION_MS),
      });
      if (!first) return false;
      await updateNetworkTokenRow(tx, row.merchantId, row.id, data);
      await emitEvent(
        tx,
        row,
        'network_token.updated',
        { paymentMethodId: row.paymentMethodId, status, last4: data.last4 ?? row.last4, tokenReferenceId: row.tokenReferenceId },
        event.type,
      );
      await appendAudit(
        tx,
        { merchantId: row.merchantId, mode: row.mode, keyId: `tsp:${tspId}`, requestId: event.id },
        {
          action: `network_token.${event.type.slice('token.'.length)}`,
          entityType: 'payment_method',
          entityId: row.paymentMethodId,
          outcome: 'success',
          detail: { status },
        },
      );
      return true;
    });
    if (applied) changed++;
  }
  return changed;
}

/** Forgets applied event ids past their retention. */
export async function sweepAppliedEvents(app: App, now = app.clock()): Promise<number> {
  return deleteAppliedEventsBefore(app, now);
}
