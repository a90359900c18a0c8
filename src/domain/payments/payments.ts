import type { App } from '../../app/app.js';
import { emitEvent, paymentEventObject } from '../webhooks/events.js';
import { emitPayment } from '../webhooks/webhooks.js';
import { findPaymentMethodRow, markCustomerInitiated, onPool } from '../paymentMethods/store.js';
import {
  findPaymentRow,
  findPaymentUnderKey,
  findSandboxPayment,
  getPaymentRow,
  insertPayment,
  releaseExpiredPaymentKeys,
  releasePaymentKey,
  setSavedPaymentMethod,
  transitionPayment,
} from './store.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { connectorFor, fromUpstream, type Connector } from '../../integrations/connectors/index.js';
import type { AuthorizeRequest, PaymentSource } from '../../integrations/connectors/types.js';
import { SANDBOX_CONNECTOR_ID } from '../../integrations/connectors/sandbox.js';
import { openField } from '../../db/encryption.js';
import { encodeField, type Billing } from '../../db/encrypted-fields.js';
import { Conflict, IdempotencyConflict, NotFound, ValidationFailed, type FieldError } from '../shared/errors.js';
import type { Prisma as P, Payment, PaymentInstrument, PaymentMethod, PaymentStatus } from '../../generated/prisma/client.js';
import { tspFor } from '../../integrations/tokenServices/index.js';
import { newId } from '../shared/ids.js';
import type { CardInput } from '../shared/inputSchemas.js';
import { captureAmountSchema, createPaymentInputSchema, type CreatePaymentInput } from './inputs.js';
import { openCardToken, spendCardToken } from '../cardTokens/cardTokens.js';
import { requireCustomer, type Query } from '../customers/customers.js';
import { parseInput } from '../shared/inputs.js';
import { usableNetworkToken } from '../paymentMethods/networkTokens.js';
import { cardFingerprint, maskedCard, recordPaymentMethodUse, saveCard, type CardView } from '../paymentMethods/paymentMethods.js';
import { checkEnumeration } from '../paymentMethods/enumeration.js';
import { claimPspToken } from '../paymentMethods/pspTokens.js';
import { openBankAccount, openCard } from '../paymentMethods/reveal.js';
import { actorOf, appendAudit, audited } from '../audit/audit.js';
import { tenant, writing, type Principal } from '../shared/principal.js';
import type { NewPaymentRow } from './store.js';

/** The connector's authorization of a new payment, card or bank account alike. */
function authorize(
  app: App,
  connector: Connector,
  v: CreatePaymentInput,
  paymentId: string,
  idempotency: CreatePaymentOptions['idempotency'],
  source: AuthorizeRequest['source'],
  challenge: AuthorizeRequest['challenge'],
  /** What else the vault knows of this payment's instrument (the card behind a PSP or network token): never stored back. */
  behind: readonly PaymentSource[] = [],
) {
  app.log.debug({ paymentId, connectorId: connector.id, idempotencyKey: idempotency?.keyId }, 'connector authorize');
  return connector
    .authorize({
      paymentId,
      ...(idempotency && { idempotencyKey: idempotency.keyId }),
      amount: v.amount,
      currency: v.currency,
      captureMethod: v.captureMethod,
      initiator: v.initiator,
      source,
      challenge,
    })
    .then((result) => fromUpstream(result, [source, ...behind]));
}

/** Where the card of a payment comes from, opened for the connector. */
interface CardSource {
  kind: 'card';
  card: CardInput;
  billing: Billing | null;
  customerId: string | null;
  paymentMethodId?: string;
  cardTokenId?: string;
}

/** A stored bank account, opened for the connector: a debit needs no CVC, expiry or challenge. */
interface BankSource {
  kind: 'bank';
  paymentMethod: PaymentMethod;
  account: Extract<PaymentSource, { type: 'bank_account' }>;
  customerId: string | null;
}

const SUCCEEDED: ReadonlySet<PaymentStatus> = new Set(['COMPLETED', 'AUTHORIZED']);
const CANCELLABLE: readonly PaymentStatus[] = ['AUTHORIZED', 'REQUIRES_ACTION'];

const hashSecret = (secret: string) => createHash('sha256').update(secret, 'utf8').digest();

export interface CreatePaymentOptions {
  /** Where the challenge page is reached (default: the vault's public URL). */
  baseUrl?: string;
  now?: Date;
  /**
   * The request's Idempotency-Key (its row id) and fingerprint: recorded in the payment's own transaction,
   * so that a retry after an ambiguous failure (committed, but the answer lost) returns this payment instead
   * of paying again; also handed to the connector, for PSPs that deduplicate authorizations on a key.
   */
  idempotency?: { keyId: string; fingerprint: string };
}

/** As long as an Idempotency-Key replays its first response (domain/idempotency). */
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Pays with a stored payment method, a card token or a card, through the connector of the key's mode. A
 * decline is a FAILED payment, not an error. With `savePaymentMethod` the card is vaulted only once the
 * payment succeeded: at once, or after a successful challenge (meanwhile it waits, sealed and without its
 * CVC, in `pendingCard`).
 */
export async function createPayment(
  app: App,
  caller: Principal,
  input: unknown,
  { baseUrl = app.urls.public(), now = app.clock(), idempotency }: CreatePaymentOptions = {},
): Promise<Payment> {
  // The payment goes in the request's profile; the customer, payment method or card token it names must be there too.
  const principal = writing(caller);
  const v = parseInput(createPaymentInputSchema, input, ['input'], now);
  if (idempotency) {
    const earlier = await paymentUnderKey(app, principal, idempotency, now);
    if (earlier) return earlier;
  }
  const connector = connectorFor(app.connectors, principal, v.connectorId);
  if (v.customerId) await requireCustomer(app, principal, v.customerId);
  const found = await paymentSource(app, principal, v, now);
  if (found.kind === 'bank') return payWithBankAccount(app, principal, connector, v, found, { baseUrl, now, idempotency });
  const source = found;
  const { cvc, ...card } = source.card;
  // Saving shows the saved payment method (its fingerprint, and its id when the card is vaulted already):
  // counted against the enumeration limits before anything is paid, whether the save happens now or after
  // the challenge.
  const fingerprint = v.savePaymentMethod && !source.paymentMethodId ? await cardFingerprint(app, principal, card.number) : undefined;
  if (fingerprint) await checkEnumeration(app, principal, card, fingerprint, source.customerId, now);
  // From here on the card goes to the connector: the token is spent (exactly one concurrent use gets past this).
  if (source.cardTokenId) await spendCardToken(app, principal, source.cardTokenId, now);

  const paymentId = newId('pay');
  const secret = randomBytes(32).toString('base64url');
  const cardSourceForConnector: PaymentSource = {
    type: 'card',
    card: { number: card.number, expMonth: card.expMonth, expYear: card.expYear, cvc, holderName: card.holderName },
  };
  const { paySource, instrument } = source.paymentMethodId
    ? await storedInstrument(app, principal, connector, source.paymentMethodId, v, now, cardSourceForConnector)
    : { paySource: cardSourceForConnector, instrument: 'CARD' as const };
  const result = await authorize(app, connector, v, paymentId, idempotency, paySource, { baseUrl, secret }, [cardSourceForConnector]);
  const succeeded = SUCCEEDED.has(result.status);
  const challenged = result.status === 'REQUIRES_ACTION';

  const saved =
    v.savePaymentMethod && succeeded
      ? (await saveCard(app, principal, { card, customerId: source.customerId, billing: source.billing, fingerprint })).paymentMethod
      : undefined;
  return recordPayment(app, principal, v, now, {
    row: {
      id: paymentId,
      customerId: source.customerId,
      paymentMethodId: source.paymentMethodId ?? null,
      savedPaymentMethodId: saved?.id ?? null,
      cardTokenId: source.cardTokenId ?? null,
      bin: card.bin,
      last4: card.last4,
      brand: card.brand,
      cardExpiry: encodeField('Payment', 'cardExpiry', { month: card.expMonth, year: card.expYear }),
      holderName: card.holderName ?? null,
      // What saveCard needs once the challenge succeeds, never the CVC.
      pendingCard: v.savePaymentMethod && challenged ? encodeField('Payment', 'pendingCard', { card, billing: source.billing }) : null,
      connectorId: connector.id,
      instrument,
      challengeSecretHash: challenged ? hashSecret(secret).toString('hex') : null,
    },
    result,
    paidWith: source.paymentMethodId ? { id: source.paymentMethodId, type: 'CARD' } : undefined,
    saved,
    idempotency,
  });
}

/**
 * Pays with a stored bank account: the connector debits it (no challenge, no PSP or network token); the
 * payment keeps the masked account. Recorded as every payment is (recordPayment).
 */
async function payWithBankAccount(
  app: App,
  principal: Principal,
  connector: Connector,
  v: CreatePaymentInput,
  source: BankSource,
  { baseUrl, now, idempotency }: Required<Pick<CreatePaymentOptions, 'baseUrl' | 'now'>> & Pick<CreatePaymentOptions, 'idempotency'>,
): Promise<Payment> {
  const paymentId = newId('pay');
  const pm = source.paymentMethod;
  // The challenge is never used: a bank debit is not challenged. The secret is not kept.
  const result = await authorize(app, connector, v, paymentId, idempotency, source.account, {
    baseUrl,
    secret: randomBytes(32).toString('base64url'),
  });
  const { bankAccount } = source.account;
  return recordPayment(app, principal, v, now, {
    row: {
      id: paymentId,
      customerId: source.customerId,
      paymentMethodId: pm.id,
      savedPaymentMethodId: null,
      cardTokenId: null,
      bin: null,
      last4: pm.last4,
      brand: null,
      cardExpiry: null,
      holderName: bankAccount.holderName,
      bankScheme: bankAccount.scheme,
      bankCode: bankAccount.bankCode,
      bankCountry: bankAccount.country,
      pendingCard: null,
      connectorId: connector.id,
      instrument: 'BANK_ACCOUNT',
      challengeSecretHash: null,
    },
    result: result.status === 'REQUIRES_ACTION' ? { ...result, status: 'FAILED', failureCode: 'unexpected_challenge' } : result,
    paidWith: { id: pm.id, type: pm.type },
    saved: undefined,
    idempotency,
  });
}

interface PaymentRecord {
  /** The payment's own columns (amounts, status, capture, initiator and idempotency come from the input and result). */
  row: Omit<
    NewPaymentRow,
    | 'amount'
    | 'amountCaptured'
    | 'currency'
    | 'status'
    | 'captureMethod'
    | 'initiator'
    | 'savePaymentMethod'
    | 'connectorReference'
    | 'redirectUrl'
    | 'returnUrl'
    | 'failureCode'
    | 'failureMessage'
    | 'idempotencyKeyId'
    | 'idempotencyRequestHash'
  > & { id: string; connectorId: string; instrument: PaymentInstrument };
  result: Awaited<ReturnType<Connector['authorize']>>;
  /** The stored payment method paid with, if any: its use is recorded (lastUsedAt, a bank account's retention). */
  paidWith: Pick<PaymentMethod, 'id' | 'type'> | undefined;
  saved: PaymentMethod | undefined;
  idempotency: CreatePaymentOptions['idempotency'];
}

/** Stores a payment the connector answered, records the use of its payment method, and audits it, in one transaction. */
function recordPayment(app: App, principal: Principal, v: CreatePaymentInput, now: Date, r: PaymentRecord): Promise<Payment> {
  const { row, result, paidWith, saved, idempotency } = r;
  const succeeded = SUCCEEDED.has(result.status);
  return app.db.prisma.$transaction(async (tx) => {
    const payment = await insertPayment(tx, principal, {
      ...row,
      amount: v.amount,
      amountCaptured: result.status === 'COMPLETED' ? v.amount : 0,
      currency: v.currency,
      status: result.status,
      captureMethod: v.captureMethod,
      initiator: v.initiator,
      savePaymentMethod: v.savePaymentMethod,
      connectorReference: result.reference,
      redirectUrl: result.redirectUrl ?? null,
      returnUrl: v.returnUrl ?? null,
      failureCode: result.failureCode ?? null,
      failureMessage: result.failureMessage ?? null,
      idempotencyKeyId: idempotency?.keyId ?? null,
      idempotencyRequestHash: idempotency?.fingerprint ?? null,
    });
    if (paidWith) {
      await recordPaymentMethodUse(tx, principal, paidWith, now);
      if (succeeded && v.initiator === 'CUSTOMER') await markCustomerInitiated(tx, principal, paidWith.id, now);
    }
    if (saved) await markCustomerInitiated(tx, principal, saved.id, now);
    await emitEvent(tx, principal, 'payment.created', paymentEventObject(payment));
    await appendAudit(tx, actorOf(principal), {
      action: 'payment.create',
      entityType: 'payment',
      entityId: row.id,
      outcome: 'success',
      detail: {
        status: result.status,
        instrument: row.instrument,
        connectorId: row.connectorId,
        ...(paidWith && { paymentMethodId: paidWith.id }),
      },
    });
    return payment;
  });
}

/**
 * The payment an earlier attempt with this Idempotency-Key committed within 24 hours (its answer was lost:
 * the connection failed after the commit), or null. Another request under the key conflicts. A payment
 * older than 24 hours gives the key back (the sweep does the same for all of them).
 */
async function paymentUnderKey(
  app: App,
  principal: Principal,
  idempotency: { keyId: string; fingerprint: string },
  now: Date,
): Promise<Payment | null> {
  const earlier = await findPaymentUnderKey(app, principal.merchantId, idempotency.keyId);
  if (!earlier) return null;
  if (earlier.createdAt.getTime() <= now.getTime() - IDEMPOTENCY_TTL_MS) {
    await releasePaymentKey(app, principal.merchantId, idempotency.keyId, earlier.createdAt);
    return null;
  }
  if (earlier.idempotencyRequestHash !== idempotency.fingerprint) throw new IdempotencyConflict();
  return earlier;
}

/**
 * Gives back the Idempotency-Keys of payments whose idempotency record expired (run before the records are
 * swept; found through them, by primary key and unique index, never by scanning payments). A payment whose
 * record went earlier (released after a fault, deleted with its subject) gives its key back when it is reused
 * after 24 hours (paymentUnderKey).
 */
export async function releasePaymentKeys(app: App, now = app.clock()): Promise<number> {
  return releaseExpiredPaymentKeys(app, now);
}

/**
 * What a stored payment method pays with: the connector's active PSP token, else an active network token
 * with a fresh cryptogram (if the connector takes them), else the card.
 */
async function storedInstrument(
  app: App,
  principal: Principal,
  connector: Connector,
  paymentMethodId: string,
  v: CreatePaymentInput,
  now: Date,
  card: PaymentSource,
): Promise<{ paySource: PaymentSource; instrument: PaymentInstrument }> {
  const token = await claimPspToken(app, principal, paymentMethodId, connector.id, now);
  if (token) return { paySource: { type: 'psp_token', token }, instrument: 'PSP_TOKEN' };
  if (connector.acceptsNetworkTokens) {
    const nt = await usableNetworkToken(app, principal, paymentMethodId, now);
    if (nt) {
      const { cryptogram, eci } = await tspFor(app.tokenServices, principal.mode, nt.row.tspId).cryptogram({
        tokenReferenceId: nt.row.tokenReferenceId,
        number: nt.number,
        amount: v.amount,
        currency: v.currency,
      });
      return {
        paySource: {
          type: 'network_token',
          networkToken: { number: nt.number, expMonth: nt.expMonth, expYear: nt.expYear, cryptogram, eci },
        },
        instrument: 'NETWORK_TOKEN',
      };
    }
  }
  return { paySource: card, instrument: 'CARD' };
}

async function paymentSource(app: App, principal: Principal, v: CreatePaymentInput, now: Date): Promise<CardSource | BankSource> {
  if (v.paymentMethodId) return storedSource(app, principal, v, v.paymentMethodId);
  if (v.token) {
    // Opened here, spent in createPayment once nothing refuses before the connector is asked.
    const { billing, ...card } = await openCardToken(app, principal, v.token, now);
    return { kind: 'card', card, billing, customerId: v.customerId ?? null, cardTokenId: v.token };
  }
  return { kind: 'card', card: v.card!, billing: null, customerId: v.customerId ?? null };
}

/**
 * The card or bank account of a stored payment method, opened (reveal.ts openCard, openBankAccount) for the
 * connector, never returned. A merchant-initiated payment needs a payment method that already went through a
 * customer-initiated one.
 */
async function storedSource(app: App, principal: Principal, v: CreatePaymentInput, id: string): Promise<CardSource | BankSource> {
  const pm = await findPaymentMethodRow(onPool(app), principal, id);
  if (!pm) throw new NotFound('payment method', id);
  const refused: FieldError[] = [];
  if (v.initiator === 'MERCHANT' && !pm.citCompletedAt) {
    refused.push({
      path: ['input', 'initiator'],
      code: 'INVALID_INPUT',
      message: 'A merchant-initiated payment needs a payment method that completed a customer-initiated payment before',
    });
  }
  if (v.customerId && pm.customerId && v.customerId !== pm.customerId) {
    refused.push({ path: ['input', 'customerId'], code: 'INVALID_INPUT', message: 'The payment method belongs to another customer' });
  }
  if (refused.length > 0) throw new ValidationFailed(refused);

  if (pm.type === 'BANK_ACCOUNT') {
    return { kind: 'bank', paymentMethod: pm, account: await openBankAccount(app, pm), customerId: v.customerId ?? pm.customerId };
  }
  const { number, expMonth, expYear, holderName } = await openCard(app, pm);
  return {
    kind: 'card',
    // The CVC is never stored.
    card: {
      number,
      cvc: undefined,
      expMonth,
      expYear,
      holderName: holderName ?? undefined,
      bin: pm.bin!,
      last4: pm.last4,
      brand: pm.brand!,
    },
    billing: null,
    customerId: v.customerId ?? pm.customerId,
    paymentMethodId: pm.id,
  };
}

export async function findPayment(app: App, principal: Principal, id: string, query: Query = {}) {
  return findPaymentRow(app, principal, id, query);
}

async function requirePayment(app: App, principal: Principal, id: string): Promise<Payment> {
  const payment = await findPayment(app, principal, id);
  if (!payment) throw new NotFound('payment', id);
  return payment;
}

/**
 * Moves a payment out of one of `from` states. The status in the WHERE clause decides races (a capture
 * against a cancel, a cancel against a challenge): exactly one transition wins, the others get Conflict.
 */
async function transition(
  app: App,
  principal: Principal,
  id: string,
  from: readonly PaymentStatus[],
  data: P.PaymentUpdateManyMutationInput,
  action: 'capture' | 'cancel',
): Promise<Payment> {
  await audited(
    app,
    actorOf(principal),
    async (tx) => {
      if (!(await transitionPayment(tx, { ...tenant(principal), id }, from, data))) {
        throw new Conflict('The payment changed state meanwhile; nothing was done');
      }
      await emitPayment(tx, principal, 'payment.updated', id, action);
    },
    () => ({
      action: `payment.${action}`,
      entityType: 'payment',
      entityId: id,
      outcome: 'success',
      detail: { status: String(data.status) },
    }),
  );
  return getPaymentRow(app, principal.merchantId, id);
}

/** Captures an AUTHORIZED payment: all of it by default, or 1..amount (the rest is released). */
export async function capturePayment(app: App, principal: Principal, id: string, amount?: unknown): Promise<Payment> {
  const requested = amount === undefined || amount === null ? undefined : parseInput(captureAmountSchema, amount, ['amount'], app.clock());
  const payment = await requirePayment(app, principal, id);
  if (payment.status !== 'AUTHORIZED') {
    throw new Conflict(`Only an authorized payment can be captured; this one is ${payment.status.toLowerCase()}`);
  }
  const captured = requested ?? payment.amount;
  if (captured > payment.amount) {
    throw ValidationFailed.single(['amount'], 'INVALID_INPUT', `Must be at most ${payment.amount}, the authorized amount`);
  }
  const result = await connectorFor(app.connectors, principal, payment.connectorId).capture({
    paymentId: id,
    reference: payment.connectorReference,
    amount: captured,
    currency: payment.currency,
  });
  return transition(app, principal, id, ['AUTHORIZED'], { status: result.status, amountCaptured: captured }, 'capture');
}

/** Voids an authorization, or abandons a payment awaiting its challenge (its pending card is destroyed). */
export async function cancelPayment(app: App, principal: Principal, id: string): Promise<Payment> {
  const payment = await requirePayment(app, principal, id);
  if (!CANCELLABLE.includes(payment.status)) {
    throw new Conflict(
      `Only an authorized payment or one awaiting authentication can be cancelled; this one is ${payment.status.toLowerCase()}`,
    );
  }
  const result = await connectorFor(app.connectors, principal, payment.connectorId).cancel({
    paymentId: id,
    reference: payment.connectorReference,
  });
  return transition(app, principal, id, CANCELLABLE, { status: result.status, pendingCard: null, redirectUrl: null }, 'cancel');
}

// ---------------------------------------------------------------------------------------------------------
// The sandbox's 3-D Secure challenge. The customer's browser carries no api key: the secret in the challenge
// URL is the credential, so a payment is found by its id alone and then authenticated by the secret.

/**
 * The sandbox payment whose challenge secret this is; NotFound for an unknown id and a wrong secret alike.
 * The secret's SHA-256 is compared in constant time.
 */
async function challengedPayment(app: App, paymentId: string, secret: string): Promise<Payment> {
  const presented = hashSecret(secret);
  const payment = await findSandboxPayment(app, paymentId, SANDBOX_CONNECTOR_ID);
  const stored = payment?.challengeSecretHash ? Buffer.from(payment.challengeSecretHash, 'hex') : undefined;
  if (!payment || !stored || stored.length !== presented.length || !timingSafeEqual(stored, presented)) {
    throw new NotFound('payment', paymentId);
  }
  return payment;
}

/** What the challenge page shows: the payment and its masked card. */
export async function findChallenge(app: App, paymentId: string, secret: string): Promise<{ payment: Payment; card: CardView }> {
  const payment = await challengedPayment(app, paymentId, secret);
  return { payment, card: await maskedCard(app, payment, 'Payment') };
}

/**
 * The customer's answer to the challenge. Only a payment still REQUIRES_ACTION moves: success completes it
 * (or authorizes it, for manual capture) and saves its pending card; failure fails it. A repeat, or an
 * answer after a cancel, changes nothing and returns the payment as it is.
 */
export async function completeChallenge(
  app: App,
  paymentId: string,
  secret: string,
  outcome: 'success' | 'failure',
  now = app.clock(),
): Promise<Payment> {
  const payment = await challengedPayment(app, paymentId, secret);
  if (payment.status !== 'REQUIRES_ACTION') return payment;
  const { prisma, keyring } = app.db;
  const key = { merchantId: payment.merchantId, id: payment.id };
  const succeeded = outcome === 'success';
  // Opened before the transition clears it.
  const pending = succeeded ? await openField(keyring, 'Payment', 'pendingCard', payment) : null;
  const authorizeOnly = payment.captureMethod === 'MANUAL';
  const status: PaymentStatus = succeeded ? (authorizeOnly ? 'AUTHORIZED' : 'COMPLETED') : 'FAILED';
  // The customer's browser acts: no api key, the challenge secret was the credential.
  const actor = { merchantId: payment.merchantId, mode: payment.mode, keyId: 'customer:challenge', requestId: `challenge-${payment.id}` };
  const count = await audited(
    app,
    actor,
    async (tx) => {
      const moved = await transitionPayment(tx, key, ['REQUIRES_ACTION'], {
        ...(succeeded
          ? { status, amountCaptured: authorizeOnly ? 0 : payment.amount }
          : { status, failureCode: 'authentication_failed', failureMessage: 'The customer failed 3-D Secure authentication' }),
        pendingCard: null,
        redirectUrl: null,
      });
      if (moved) await emitPayment(tx, payment, 'payment.updated', payment.id, 'challenge');
      return moved ? 1 : 0;
    },
    (n) =>
      n === 1 ? [{ action: 'payment.challenge', entityType: 'payment', entityId: payment.id, outcome: 'success', detail: { status } }] : [],
  );
  if (count === 1 && succeeded) {
    // The challenge page acts for the payment's own tenant; no api key is involved.
    const principal: Principal = {
      merchantId: payment.merchantId,
      mode: payment.mode,
      keyId: 'sandbox-challenge',
      kind: 'SECRET',
      allowReveal: false,
      profileId: payment.profileId,
      profileScope: payment.profileId,
    };
    if (payment.paymentMethodId) await markCustomerInitiated(prisma, principal, payment.paymentMethodId, now);
    if (pending) {
      const { paymentMethod } = await saveCard(app, principal, {
        card: pending.card,
        customerId: payment.customerId,
        billing: pending.billing,
      });
      await markCustomerInitiated(prisma, principal, paymentMethod.id, now);
      await setSavedPaymentMethod(app, payment.merchantId, payment.id, paymentMethod.id);
    }
  }
  return getPaymentRow(app, payment.merchantId, payment.id);
}

/** The challenge URL (it holds the challenge secret, so it is stored sealed). */
export function paymentRedirectUrl(app: App, row: Pick<Payment, 'merchantId' | 'id' | 'redirectUrl'>): Promise<string | null> {
  return openField(app.db.keyring, 'Payment', 'redirectUrl', row);
}
