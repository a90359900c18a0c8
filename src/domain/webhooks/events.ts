import type { Tx } from '../../db/client.js';
import { containsCardNumber } from '../../card/pan.js';
import { isExpired } from '../../card/expiry.js';
import { newId } from '../shared/ids.js';
import type { Tenant } from '../shared/principal.js';

/** Every event a merchant can subscribe to (or `*`: all of them). */
export const WEBHOOK_EVENT_TYPES = [
  'payment_method.created',
  'payment_method.updated',
  'payment_method.deleted',
  'payment_method.purged',
  'payment_method.expiring',
  'payment.created',
  'payment.updated',
  'network_token.updated',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Where an event is written: a Prisma transaction (or the Prisma client: one statement, committed on its own). */
type Executor = Pick<Tx, '$queryRawUnsafe'>;

/**
 * The outbox CTEs of one event, for a statement that makes the change itself (the hot inserts: no round trip
 * more, and the event commits with the change): `evt` inserts the event only if an endpoint of the merchant
 * and mode subscribes to it, `evt_deliveries` a delivery job for each such endpoint. `row` names a CTE or
 * table of one row (the change, e.g. `ins`) so that no change, no event; the `$n` are the statement's
 * parameters for the merchant, mode (cast to "Mode" here), event type, payload (JSON text), event id and time.
 */
export function outboxCtes(
  row: string,
  p: { merchant: string; mode: string; type: string; payload: string; id: string; at: string },
): string {
  const subscribed = `webhook_endpoints e WHERE e.merchant_id = ${p.merchant} AND e.mode = ${p.mode}::"Mode" AND e.events && ARRAY[${p.type}::text, '*']`;
  return `evt AS (
   INSERT INTO webhook_events (merchant_id, id, mode, type, payload, created_at)
   SELECT ${p.merchant}, ${p.id}, ${p.mode}::"Mode", ${p.type}, ${p.payload}::jsonb, ${p.at}::timestamptz FROM ${row}
   WHERE EXISTS (SELECT 1 FROM ${subscribed})
   RETURNING merchant_id, id, mode, created_at),
 evt_deliveries AS (
   INSERT INTO webhook_deliveries (merchant_id, id, mode, event_id, endpoint_id, next_attempt_at, created_at)
   SELECT evt.merchant_id, 'whd_' || translate(substr(md5(evt.id || e.id), 1, 22), '0123456789', 'ghijklmnop'), evt.mode, evt.id, e.id, evt.created_at, evt.created_at
   FROM evt, ${subscribed})`;
}

/** The outbox statement of emitEvent: $1 merchant, $2 event id, $3 mode, $4 type, $5 payload, $6 time. */
const EMIT = `WITH ${outboxCtes('(SELECT 1) one', { merchant: '$1', mode: '$3', type: '$4', payload: '$5', id: '$2', at: '$6' })}
 SELECT count(*)::int AS n FROM evt`;

/**
 * An event's payload: `{type, timestamp, data: {object, reason?}}` as JSON text. A guard: payloads carry
 * masked views only, so a card number here is a bug upstream and nothing is written. It is the detector the
 * input's free text and metadata pass (`containsCardNumber`): a stricter one would refuse, as an internal
 * error, a change the input accepted (a reference that passes Luhn outside every card range).
 */
export function eventPayload(type: WebhookEventType, object: Record<string, unknown>, reason: string | undefined, now: Date): string {
  const payload = JSON.stringify({ type, timestamp: now.toISOString(), data: { object, ...(reason && { reason }) } });
  if (containsCardNumber(payload)) throw new Error(`webhook event ${type}: the payload holds a card number`);
  return payload;
}

/**
 * Records a webhook event of `type` about `object` (the masked resource as GraphQL shows it) in the caller's
 * transaction, with a delivery job for every endpoint of the merchant and mode subscribed to it, in one
 * statement: when the change commits, so does its event, and a process dying afterwards loses nothing
 * (another process's dispatcher delivers it). A merchant without a matching endpoint gets no row (the EXISTS
 * on the endpoints' index is the whole cost). `reason` says why where it matters (`retention`, …).
 */
export async function emitEvent(
  tx: Executor,
  tenant: Tenant,
  type: WebhookEventType,
  object: Record<string, unknown>,
  reason?: string,
  now = new Date(),
): Promise<void> {
  const payload = eventPayload(type, object, reason, now);
  await tx.$queryRawUnsafe(EMIT, tenant.merchantId, newId('evt'), tenant.mode, type, payload, now.toISOString());
}

/**
 * What payment_method.* events show of a payment method: its masked GraphQL view (no names, no billing):
 * `card` for a card, `bankAccount` for a bank account (the other null), as GraphQL shows them.
 */
export interface PaymentMethodFacts {
  id: string;
  type?: string;
  customerId: string | null;
  fingerprint: string;
  metadata?: unknown;
  bin?: string | null;
  last4: string;
  brand?: string | null;
  /** Null for a bank account (no expiry). */
  expMonth: number | null;
  expYear: number | null;
  issuer?: string | null;
  issuingCountry?: string | null;
  cardType?: string | null;
  bankScheme?: string | null;
  bankCode?: string | null;
  bankCountry?: string | null;
  bic?: string | null;
  accountType?: string | null;
  retainUntil: Date;
  createdAt: Date;
  updatedAt: Date;
}

export function paymentMethodEventObject(pm: PaymentMethodFacts, now: Date): Record<string, unknown> {
  const isCard = (pm.type ?? 'CARD') === 'CARD';
  return {
    id: pm.id,
    type: pm.type ?? 'CARD',
    customerId: pm.customerId,
    card:
      isCard && pm.expMonth !== null && pm.expYear !== null
        ? {
            bin: pm.bin ?? null,
            last4: pm.last4,
            brand: pm.brand ?? null,
            expMonth: pm.expMonth,
            expYear: pm.expYear,
            expired: isExpired(pm.expMonth, pm.expYear, now),
            issuer: pm.issuer ?? null,
            issuingCountry: pm.issuingCountry ?? null,
            cardType: pm.cardType ?? null,
          }
        : null,
    bankAccount: isCard
      ? null
      : {
          scheme: pm.bankScheme ?? null,
          country: pm.bankCountry ?? null,
          last4: pm.last4,
          bankCode: pm.bankCode ?? null,
          bic: pm.bic ?? null,
          accountType: pm.accountType ?? null,
        },
    fingerprint: pm.fingerprint,
    metadata: pm.metadata ?? null,
    retainUntil: pm.retainUntil.toISOString(),
    createdAt: pm.createdAt.toISOString(),
    updatedAt: pm.updatedAt.toISOString(),
  };
}

/** What payment.* events show of a payment: its masked GraphQL view (the card's bin, last four and brand, or the bank account's scheme, country, last four and bank code). */
export function paymentEventObject(p: {
  id: string;
  status: string;
  amount: number;
  amountCaptured: number;
  currency: string;
  captureMethod: string;
  initiator: string;
  customerId: string | null;
  paymentMethodId: string | null;
  savedPaymentMethodId: string | null;
  bin: string | null;
  last4: string;
  brand: string | null;
  bankScheme?: string | null;
  bankCode?: string | null;
  bankCountry?: string | null;
  connectorId: string;
  failureCode: string | null;
  failureMessage: string | null;
  createdAt: Date;
  updatedAt: Date;
}): Record<string, unknown> {
  return {
    id: p.id,
    status: p.status,
    amount: p.amount,
    amountCaptured: p.amountCaptured,
    currency: p.currency,
    captureMethod: p.captureMethod,
    initiator: p.initiator,
    customerId: p.customerId,
    paymentMethodId: p.paymentMethodId ?? p.savedPaymentMethodId,
    card: p.bin === null ? null : { bin: p.bin, last4: p.last4, brand: p.brand },
    bankAccount: p.bankScheme
      ? { scheme: p.bankScheme, country: p.bankCountry ?? null, last4: p.last4, bankCode: p.bankCode ?? null }
      : null,
    connectorId: p.connectorId,
    failureCode: p.failureCode,
    failureMessage: p.failureMessage,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}
