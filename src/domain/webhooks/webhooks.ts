import { randomBytes } from 'node:crypto';
import type { App } from '../../app/app.js';
import { openField } from '../../db/encryption.js';
import type { PaymentMethod } from '../../generated/prisma/client.js';
import { actorOf, audited } from '../audit/audit.js';
import { Code, NotFound, ValidationFailed } from '../shared/errors.js';
import { isWellFormedId, newId } from '../shared/ids.js';
import { merchantMode, type Principal, type Tenant } from '../shared/principal.js';
import { isPrivateHost } from './addresses.js';
import { emitEvent, paymentEventObject, paymentMethodEventObject, WEBHOOK_EVENT_TYPES } from './events.js';
import type { Tx } from '../../db/client.js';
import { findPaymentInTransaction } from '../payments/store.js';

const MAX_ENDPOINTS = 20;

/** The endpoint's URL and events, checked: https in live mode (test mode also takes http and loopback). */
function validEndpoint(principal: Tenant, input: unknown): { url: string; events: string[] } {
  const { url, events } = (input ?? {}) as { url?: unknown; events?: unknown };
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' && url.length <= 2048 ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.username || parsed.password) {
    throw ValidationFailed.single(['input', 'url'], Code.INVALID_INPUT, 'url must be an http(s) URL without credentials');
  }
  if (principal.mode === 'LIVE' && (parsed.protocol !== 'https:' || isPrivateHost(parsed.hostname))) {
    throw ValidationFailed.single(['input', 'url'], Code.INVALID_INPUT, 'live mode endpoints must be https URLs of a public host');
  }
  const known = new Set<string>([...WEBHOOK_EVENT_TYPES, '*']);
  if (!Array.isArray(events) || events.length === 0 || events.some((e) => typeof e !== 'string' || !known.has(e))) {
    throw ValidationFailed.single(['input', 'events'], Code.INVALID_INPUT, `events must name ${WEBHOOK_EVENT_TYPES.join(', ')} or *`);
  }
  return { url: parsed.toString(), events: [...new Set(events as string[])] };
}

/** A new endpoint and its whsec_ secret (shown once; stored sealed to sign deliveries). */
export async function createWebhookEndpoint(app: App, principal: Principal, input: unknown) {
  const v = validEndpoint(principal, input);
  const id = newId('we');
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  // The secret is sealed with the merchant's data key: loaded before the transaction, not inside it (a load
  // there takes a second connection, and on the embedded database, whose connections share one session and
  // take turns, it waited for the transaction itself until the transaction timed out). The server does this
  // for every request; the CLI did not.
  await app.db.keyring.merchantKeys(principal.merchantId);
  const endpoint = await audited(
    app,
    actorOf(principal),
    async (tx) => {
      const count = await tx.webhookEndpoint.count({ where: merchantMode(principal) });
      if (count >= MAX_ENDPOINTS) {
        throw ValidationFailed.single(['input'], Code.INVALID_INPUT, `at most ${MAX_ENDPOINTS} endpoints per merchant and mode`);
      }
      return tx.webhookEndpoint.create({
        data: { ...merchantMode(principal), id, url: v.url, events: v.events, secret, createdAt: app.clock() },
        select: { id: true, url: true, events: true, createdAt: true },
      });
    },
    () => ({ action: 'webhook_endpoint.create', entityType: 'webhook_endpoint', entityId: id, outcome: 'success' }),
  );
  return { endpoint, secret };
}

/** Deletes the endpoint: its pending deliveries go with it, so nothing more is sent to it. */
export async function deleteWebhookEndpoint(app: App, principal: Principal, id: string) {
  if (!isWellFormedId('we', id)) throw new NotFound('webhook endpoint', id);
  return audited(
    app,
    actorOf(principal),
    async (tx) => {
      const { count } = await tx.webhookEndpoint.deleteMany({ where: { ...merchantMode(principal), id } });
      if (count === 0) throw new NotFound('webhook endpoint', id);
      return { deletedId: id };
    },
    () => ({ action: 'webhook_endpoint.delete', entityType: 'webhook_endpoint', entityId: id, outcome: 'success' }),
  );
}

export function listWebhookEndpoints(app: App, principal: Tenant) {
  return app.db.prisma.webhookEndpoint.findMany({
    where: merchantMode(principal),
    select: { id: true, url: true, events: true, createdAt: true },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
  });
}

/** Every attempt to deliver to the endpoint, newest first; NotFound for another tenant's endpoint. */
export async function listWebhookDeliveries(app: App, principal: Tenant, endpointId: string, query: { select?: object; include?: object }) {
  const exists = isWellFormedId('we', endpointId)
    ? await app.db.prisma.webhookEndpoint.findFirst({ where: { ...merchantMode(principal), id: endpointId }, select: { id: true } })
    : null;
  if (!exists) throw new NotFound('webhook endpoint', endpointId);
  return app.db.prisma.webhookAttempt.findMany({
    ...(query as object),
    where: { ...merchantMode(principal), endpointId },
    orderBy: [{ at: 'desc' }, { id: 'desc' }],
  });
}

/** The endpoint's signing secret, opened to sign a delivery. */
export async function endpointSecret(app: App, row: { merchantId: string; id: string; secret: string }): Promise<string> {
  return (await openField(app.db.keyring, 'WebhookEndpoint', 'secret', row))!;
}

type PaymentMethodRow = Pick<
  PaymentMethod,
  | 'merchantId'
  | 'id'
  | 'type'
  | 'customerId'
  | 'fingerprint'
  | 'metadata'
  | 'bin'
  | 'last4'
  | 'brand'
  | 'cardExpiry'
  | 'issuer'
  | 'issuingCountry'
  | 'cardType'
  | 'bankScheme'
  | 'bankCode'
  | 'bankCountry'
  | 'bic'
  | 'accountType'
  | 'retainUntil'
  | 'createdAt'
  | 'updatedAt'
>;

/**
 * Records a payment_method.* event about `pm` (its masked view; the expiry is opened for it) in the caller's
 * transaction, and returns `pm`: one call wraps the write that changed it.
 */
export async function emitPaymentMethod<R extends PaymentMethodRow>(
  app: App,
  tx: Tx,
  principal: Tenant,
  type:
    | 'payment_method.created'
    | 'payment_method.updated'
    | 'payment_method.deleted'
    | 'payment_method.purged'
    | 'payment_method.expiring',
  pm: R,
  reason?: string,
): Promise<R> {
  // A bank account has no expiry to open.
  const expiry = pm.cardExpiry === null ? null : await openField(app.db.keyring, 'PaymentMethod', 'cardExpiry', pm);
  const now = app.clock();
  await emitEvent(
    tx,
    principal,
    type,
    paymentMethodEventObject({ ...pm, expMonth: expiry?.month ?? null, expYear: expiry?.year ?? null }, now),
    reason,
    now,
  );
  return pm;
}

/** Records a payment.* event about the payment as the caller's transaction sees it now. */
export async function emitPayment(tx: Tx, principal: Tenant, type: 'payment.created' | 'payment.updated', id: string, reason?: string) {
  const payment = await findPaymentInTransaction(tx, principal, id);
  if (payment) await emitEvent(tx, principal, type, paymentEventObject(payment), reason);
}
