import type { App } from '../../app/app.js';
import { fingerprint } from '../../crypto/fingerprint.js';
import {
  FIND_DUPLICATE,
  FIND_DUPLICATE_WITHOUT_CUSTOMER,
  FIND_PAYMENT_METHOD,
  INSERT_NEW_CARD,
  UPDATE_DUPLICATE,
} from '../../db/hotStatements.js';
import type { Tx } from '../../db/client.js';
import { openField, sealFields } from '../../db/encryption.js';
import { encodeField, type Billing } from '../../db/encrypted-fields.js';
import type { Secret } from '../../crypto/secret.js';
import { newId } from '../shared/ids.js';
import { NotFound, RetentionLimitExceeded } from '../shared/errors.js';
import { Prisma as P, type Mode, type PaymentMethod } from '../../generated/prisma/client.js';
import { isExpired } from '../../card/expiry.js';
import {
  extendRetentionMonthsSchema,
  tokenizeCardInputSchema,
  updatePaymentMethodInputSchema,
  type CardInput,
} from '../shared/inputSchemas.js';
import { tspFor } from '../../integrations/tokenServices/index.js';
import { actorOf, appendAudit, audited } from '../audit/audit.js';
import { openCardToken, spendCardToken } from '../cardTokens/cardTokens.js';
import { findNetworkToken, storeNetworkToken } from './networkTokens.js';
import { activeMultiUseToken, recordPspToken, tokenizingConnector } from './pspTokens.js';
import type { Query } from '../customers/customers.js';
import { requireCustomer } from '../customers/customers.js';
import { checkEnumeration } from './enumeration.js';
import { parseInput } from '../shared/inputs.js';
import { tenant, type Principal } from '../shared/principal.js';
import { addMonths, MAX_RETENTION_EXTENSION_MONTHS, retainUntil } from './retention.js';

/**
 * The card columns shared by payment methods and card tokens, the sealed ones as their plaintext (sealed on
 * write): the number is revealed here, for sealing only.
 */
export function cardColumns(card: Omit<CardInput, 'cvc'>) {
  return {
    cardNumber: encodeField('PaymentMethod', 'cardNumber', card.number),
    cardExpiry: encodeField('PaymentMethod', 'cardExpiry', { month: card.expMonth, year: card.expYear }),
    holderName: card.holderName ?? null,
    nickName: card.nickName ?? null,
    bin: card.bin,
    last4: card.last4,
    brand: card.brand,
    issuer: card.issuer ?? null,
    issuingCountry: card.issuingCountry ?? null,
    cardType: card.cardType ?? null,
  };
}

const pmKey = (p: Principal, id: string) => ({ merchantId_id: { merchantId: p.merchantId, id } });
const jsonOrNull = (v: unknown) => (v === undefined ? undefined : v === null ? P.DbNull : (v as P.InputJsonValue));

/**
 * Vaults a card. The same number again for the same customer (or again without a customer) returns the
 * existing payment method, updated with the new expiry and holder name. Concurrent duplicates converge on
 * one row through the unique index on (merchant, mode, customer, fingerprint): the loser of the insert race
 * finds the winner's row and updates it.
 *
 * With `pspTokenization` the named connector issues a token for the card, and with `networkTokenization` the
 * token service provider a network token. Both are asked before anything is stored, so a refusal leaves
 * nothing behind. A duplicate keeps its live network token and its active reusable token for the connector
 * rather than asking again; a SINGLE_USE request always gets a fresh token.
 */
export async function tokenizeCard(app: App, principal: Principal, input: unknown, now = app.clock()) {
  const v = parseInput(tokenizeCardInputSchema, input, ['input'], now);
  const customerId = v.customerId ?? null;
  if (customerId) await requireCustomer(app, principal, customerId);
  const connector = v.pspTokenization ? tokenizingConnector(app, principal, v.pspTokenization.connectorId) : undefined;
  const tsp = v.networkTokenization?.enable ? tspFor(app.tokenServices, principal.mode) : undefined;
  // A card token is opened here and spent only once nothing can refuse any more (the enumeration limit, the
  // providers): a refused tokenization leaves it usable.
  const fromToken = v.token ? await openCardToken(app, principal, v.token, now) : undefined;
  const card = fromToken ?? v.card!;
  const billing = v.billing ?? fromToken?.billing ?? undefined;
  const fp = await cardFingerprint(app, principal, card.number);
  // The answer shows the card's fingerprint and whether it is vaulted already: counted before anything else.
  await checkEnumeration(app, principal, card, fp, customerId, now);
  if (!connector && !tsp) {
    if (v.token) await spendCardToken(app, principal, v.token, now);
    return saveCard(app, principal, { card, customerId, billing, metadata: v.metadata, fingerprint: fp });
  }

  const existing = await app.db.prisma.paymentMethod.findFirst({
    where: { ...tenant(principal), customerId, fingerprint: fp },
    select: { id: true },
  });
  const id = existing?.id ?? newId('pm');
  const psp = v.pspTokenization;
  const keepPsp =
    psp?.tokenizationType === 'MULTI_USE' && existing && (await activeMultiUseToken(app, principal, existing.id, psp.connectorId));
  const existingNetwork = tsp && existing ? await findNetworkToken(app, principal, existing.id) : null;
  const keepNetwork = existingNetwork !== null && existingNetwork.status !== 'DELETED';
  const connectorCard = { number: card.number, expMonth: card.expMonth, expYear: card.expYear, holderName: card.holderName };
  const [pspToken, networkToken] = await Promise.all([
    connector && psp && !keepPsp
      ? connector.tokenize({ paymentMethodId: id, card: connectorCard, tokenizationType: psp.tokenizationType })
      : undefined,
    tsp && !keepNetwork ? tsp.provision({ paymentMethodId: id, card: { ...connectorCard, brand: card.brand } }) : undefined,
  ]);
  // Of concurrent uses of one token, the losers are refused here; the tokens their providers issued are
  // never stored (and a sandbox or network token without its payment method is useless).
  if (v.token) await spendCardToken(app, principal, v.token, now);

  return saveCard(app, principal, { card, customerId, billing, metadata: v.metadata, id, fingerprint: fp }, async (tx, pmId) => {
    if (pspToken && connector) await recordPspToken(app, principal, pmId, { connectorId: connector.id, ...pspToken }, tx);
    if (networkToken && tsp) await storeNetworkToken(app, principal, pmId, tsp.id, networkToken, now, tx);
    return { ...(pspToken && { pspToken: connector!.id }), ...(networkToken && { networkToken: true }) };
  });
}

/** The card's fingerprint under the fingerprint key of the principal's merchant and mode: what duplicate detection compares. */
export async function cardFingerprint(
  app: App,
  principal: Pick<Principal, 'merchantId' | 'mode'>,
  number: Secret<string>,
): Promise<string> {
  return fingerprint((await app.db.keyring.fingerprintKey(principal.merchantId, principal.mode)).reveal(), number);
}

export interface SaveCardInput {
  card: Omit<CardInput, 'cvc'>;
  customerId: string | null;
  billing?: Billing | null;
  metadata?: unknown;
  /** The id of the payment method if it is created (default: a new one). */
  id?: string;
  /** The card's fingerprint, when the caller computed it already. */
  fingerprint?: string;
}

/** Facts for the audit event of a save (which tokens came with it). */
type SaveDetail = Record<string, string | number | boolean | null>;

/**
 * Stores a validated card for a customer (or none), converging on the existing payment method for it, and
 * audits it, in one transaction. The insert comes first (ON CONFLICT DO NOTHING on the dedupe index): a card
 * already vaulted, or vaulted by a concurrent request a moment ago (the insert waits for that transaction
 * and then yields), is updated instead. `within` runs in the same transaction with the payment method's id.
 */
export async function saveCard(
  app: App,
  principal: Principal,
  { card, customerId, billing, metadata, id, fingerprint: known }: SaveCardInput,
  within?: (tx: Tx, paymentMethodId: string) => Promise<SaveDetail | void>,
) {
  const { prisma } = app.db;
  const fp = known ?? (await cardFingerprint(app, principal, card.number));
  if (!within) {
    const created = await insertNewCard(app, principal, { id: id ?? newId('pm'), customerId, fingerprint: fp, card, billing, metadata });
    if (created) return { paymentMethod: created, duplicate: false };
    const updated = await updateDuplicateFast(app, principal, customerId, fp, card);
    if (updated) return { paymentMethod: updated, duplicate: true };
  }
  return prisma.$transaction(async (tx) => {
    const [created] = await tx.paymentMethod.createManyAndReturn({
      data: [
        {
          ...tenant(principal),
          id: id ?? newId('pm'),
          customerId,
          type: 'CARD',
          fingerprint: fp,
          ...cardColumns(card),
          billing: encodeField('PaymentMethod', 'billing', billing) ?? null,
          metadata: jsonOrNull(metadata) ?? P.DbNull,
          retainUntil: retainUntil(card.expMonth, card.expYear),
        },
      ],
      skipDuplicates: true,
    });
    const saved = created
      ? { paymentMethod: created, duplicate: false }
      : { paymentMethod: await updateDuplicate(tx, principal, customerId, fp, card), duplicate: true };
    const detail = (await within?.(tx, saved.paymentMethod.id)) ?? {};
    await appendAudit(tx, actorOf(principal), {
      action: saved.duplicate ? 'payment_method.update' : 'payment_method.create',
      entityType: 'payment_method',
      entityId: saved.paymentMethod.id,
      outcome: 'success',
      detail: { duplicate: saved.duplicate, ...detail },
    });
    return saved;
  });
}

/**
 * The fast path of a new card: the insert and its audit event in one statement (one round trip, committed
 * on its own), so the merchant's audit lock is held for that statement only. Null when the card is vaulted
 * already for this customer (ON CONFLICT DO NOTHING, and then no audit event either).
 */
async function insertNewCard(
  app: App,
  principal: Principal,
  row: {
    id: string;
    customerId: string | null;
    fingerprint: string;
    card: Omit<CardInput, 'cvc'>;
    billing?: Billing | null;
    metadata?: unknown;
  },
): Promise<PaymentMethod | null> {
  const { sql, keyring } = app.db;
  const { card } = row;
  const sealed = await sealFields(
    keyring,
    'PaymentMethod',
    { ...cardColumns(card), billing: encodeField('PaymentMethod', 'billing', row.billing) ?? null },
    { merchantId: principal.merchantId, id: row.id },
  );
  const actor = actorOf(principal);
  const now = app.clock();
  // On the plain pool, like the masked read: Prisma's raw-query path cost ~5% of a tokenization.
  const rows = await sql<PaymentMethod>(
    INSERT_NEW_CARD.text,
    [
      principal.merchantId,
      row.id,
      principal.mode,
      row.customerId,
      row.fingerprint,
      sealed.cardNumber,
      sealed.cardExpiry,
      sealed.holderName,
      sealed.nickName,
      card.bin,
      card.last4,
      card.brand,
      card.issuer ?? null,
      card.issuingCountry ?? null,
      card.cardType ?? null,
      sealed.billing,
      row.metadata === undefined || row.metadata === null ? null : JSON.stringify(row.metadata),
      retainUntil(card.expMonth, card.expYear),
      now,
      newId('aud'),
      actor.keyId,
      actor.requestId,
    ],
    INSERT_NEW_CARD.name,
  );
  return rows[0] ?? null;
}

/**
 * The fast path of a card vaulted already: find it, then its new expiry and holder name and the audit event
 * in one statement. Null when the row went away or its retention changed in between: the transaction below
 * (`updateDuplicate`) then does it the careful way.
 */
async function updateDuplicateFast(
  app: App,
  principal: Principal,
  customerId: string | null,
  fp: string,
  card: Omit<CardInput, 'cvc'>,
): Promise<PaymentMethod | null> {
  const { sql, keyring } = app.db;
  const find = customerId === null ? FIND_DUPLICATE_WITHOUT_CUSTOMER : FIND_DUPLICATE;
  const params = [principal.merchantId, principal.mode, fp, ...(customerId === null ? [] : [customerId])];
  const [existing] = await sql<{ id: string; retentionExtensionMonths: number }>(find.text, params, find.name);
  if (!existing) return null;
  const { cardExpiry, holderName } = cardColumns(card);
  const sealed = await sealFields(
    keyring,
    'PaymentMethod',
    { cardExpiry, holderName },
    { merchantId: principal.merchantId, id: existing.id },
  );
  const actor = actorOf(principal);
  const [row] = await sql<PaymentMethod>(
    UPDATE_DUPLICATE.text,
    [
      principal.merchantId,
      principal.mode,
      existing.id,
      sealed.cardExpiry,
      sealed.holderName,
      retainUntil(card.expMonth, card.expYear, existing.retentionExtensionMonths),
      app.clock(),
      existing.retentionExtensionMonths,
      newId('aud'),
      actor.keyId,
      actor.requestId,
    ],
    UPDATE_DUPLICATE.name,
  );
  return row ?? null;
}

/** The card is vaulted already: new expiry and holder name on the existing payment method. */
async function updateDuplicate(tx: Tx, principal: Principal, customerId: string | null, fp: string, card: Omit<CardInput, 'cvc'>) {
  const existing = await tx.paymentMethod.findFirst({
    where: { ...tenant(principal), customerId, fingerprint: fp },
    select: { id: true, retentionExtensionMonths: true },
  });
  if (!existing) throw new Error('saveCard: the insert conflicted but no payment method holds the card');
  return tx.paymentMethod.update({
    where: pmKey(principal, existing.id),
    data: {
      cardExpiry: cardColumns(card).cardExpiry,
      holderName: card.holderName,
      retainUntil: retainUntil(card.expMonth, card.expYear, existing.retentionExtensionMonths),
    },
  });
}

export async function updatePaymentMethod(app: App, principal: Principal, id: string, input: unknown, now = app.clock()) {
  const v = parseInput(updatePaymentMethodInputSchema, input, ['input'], now);
  const { prisma } = app.db;
  const existing = await prisma.paymentMethod.findFirst({
    where: { ...tenant(principal), id },
    select: { id: true, retentionExtensionMonths: true },
  });
  if (!existing) throw new NotFound('payment method', id);
  const hasExpiry = v.expMonth !== undefined && v.expYear !== undefined;
  const details = v.connectorTokenDetails;
  return audited(
    app,
    actorOf(principal),
    async (tx) => {
      if (details) {
        // A token obtained elsewhere (e.g. through forwardRequest to the merchant's own PSP): recorded as given.
        await recordPspToken(
          app,
          principal,
          id,
          {
            connectorId: details.connectorId,
            token: details.token,
            tokenizationType: details.tokenizationType ?? 'MULTI_USE',
            requestReferenceId: details.connectorTokenRequestReferenceId,
          },
          tx,
        );
      }
      return tx.paymentMethod.update({
        where: pmKey(principal, id),
        data: {
          holderName: v.holderName,
          nickName: v.nickName,
          billing: encodeField('PaymentMethod', 'billing', v.billing),
          metadata: jsonOrNull(v.metadata),
          // A new expiry moves the default retention and keeps whatever extension was granted.
          ...(hasExpiry && {
            cardExpiry: encodeField('PaymentMethod', 'cardExpiry', { month: v.expMonth!, year: v.expYear! }),
            retainUntil: retainUntil(v.expMonth!, v.expYear!, existing.retentionExtensionMonths),
          }),
        },
      });
    },
    () => ({
      action: 'payment_method.update',
      entityType: 'payment_method',
      entityId: id,
      outcome: 'success',
      detail: details ? { pspToken: details.connectorId } : undefined,
    }),
  );
}

export async function deletePaymentMethod(app: App, principal: Principal, id: string) {
  return audited(
    app,
    actorOf(principal),
    async (tx) => {
      const { count } = await tx.paymentMethod.deleteMany({ where: { ...tenant(principal), id } });
      if (count === 0) throw new NotFound('payment method', id);
      return { deletedId: id };
    },
    () => ({ action: 'payment_method.delete', entityType: 'payment_method', entityId: id, outcome: 'success' }),
  );
}

/**
 * Adds 1-24 months to retainUntil; the total extension may not pass 24 months. A conditional update on the
 * extension read makes concurrent extensions unable to overshoot the limit together.
 */
export async function extendRetention(app: App, principal: Principal, id: string, months: unknown) {
  const add = parseInput(extendRetentionMonthsSchema, months, ['months'], app.clock());
  const { prisma } = app.db;
  for (;;) {
    const pm = await prisma.paymentMethod.findFirst({
      where: { ...tenant(principal), id },
      select: { id: true, retentionExtensionMonths: true, retainUntil: true },
    });
    if (!pm) throw new NotFound('payment method', id);
    const total = pm.retentionExtensionMonths + add;
    if (total > MAX_RETENTION_EXTENSION_MONTHS) {
      throw new RetentionLimitExceeded(MAX_RETENTION_EXTENSION_MONTHS, MAX_RETENTION_EXTENSION_MONTHS - pm.retentionExtensionMonths);
    }
    const updated = await audited(
      app,
      actorOf(principal),
      async (tx) => {
        const { count } = await tx.paymentMethod.updateMany({
          where: { ...tenant(principal), id, retentionExtensionMonths: pm.retentionExtensionMonths },
          data: { retentionExtensionMonths: total, retainUntil: addMonths(pm.retainUntil, add) },
        });
        return count === 1;
      },
      (won) =>
        won
          ? [
              {
                action: 'payment_method.extend_retention',
                entityType: 'payment_method',
                entityId: id,
                outcome: 'success',
                detail: { months: add },
              },
            ]
          : [],
    );
    if (updated) return prisma.paymentMethod.findFirstOrThrow({ where: { ...tenant(principal), id } });
  }
}

export async function findPaymentMethod(app: App, principal: Principal, id: string, query: Query = {}): Promise<PaymentMethod | null> {
  // The hottest read: one statement on the plain pool (the ORM's per-query work cost more than the query).
  // Relations asked for in the same request load with Prisma's include as before.
  if (!query.select && !(query.include && Object.keys(query.include).length > 0)) {
    const [row] = await app.db.sql<PaymentMethod>(
      FIND_PAYMENT_METHOD.text,
      [principal.merchantId, principal.mode, id],
      FIND_PAYMENT_METHOD.name,
    );
    return row ?? null;
  }
  return app.db.prisma.paymentMethod.findFirst({ ...(query as object), where: { ...tenant(principal), id } });
}

/**
 * Deletes every payment method whose retention has passed, in batches, each deletion audited
 * (`payment_method.purge`, key `system:retention`) in the batch's transaction; returns how many went.
 */
export async function purgeExpired(app: App, now = app.clock(), batchSize = 1000): Promise<number> {
  const { prisma } = app.db;
  let total = 0;
  for (;;) {
    const purged = await prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ merchantId: string; id: string; mode: Mode }[]>`
        DELETE FROM payment_methods WHERE (merchant_id, id) IN (
          SELECT merchant_id, id FROM payment_methods WHERE retain_until <= ${now} ORDER BY merchant_id LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)
        RETURNING merchant_id AS "merchantId", id, mode`;
      // Merchant by merchant: audit locks are always taken in one order, so two purges cannot deadlock.
      rows.sort((a, b) => (a.merchantId < b.merchantId ? -1 : a.merchantId > b.merchantId ? 1 : 0));
      for (const row of rows) {
        const actor = { merchantId: row.merchantId, mode: row.mode, keyId: 'system:retention', requestId: `purge-${now.toISOString()}` };
        await appendAudit(tx, actor, {
          action: 'payment_method.purge',
          entityType: 'payment_method',
          entityId: row.id,
          outcome: 'success',
        });
      }
      return rows.length;
    });
    total += purged;
    if (purged < batchSize) return total;
  }
}

type Row = Pick<PaymentMethod, 'merchantId' | 'id'> & Partial<Pick<PaymentMethod, 'cardExpiry' | 'holderName' | 'nickName' | 'billing'>>;

export interface CardView {
  bin: string;
  last4: string;
  brand: PaymentMethod['brand'];
  expMonth: number;
  expYear: number;
  expired: boolean;
  /** Decrypted only when asked for: most reads show the expiry and not the names. */
  holderName(): Promise<string | null>;
  nickName(): Promise<string | null>;
  issuer: string | null;
  issuingCountry: string | null;
  cardType: PaymentMethod['cardType'];
}

type MaskedRow = Pick<PaymentMethod, 'merchantId' | 'id' | 'bin' | 'last4' | 'brand' | 'cardExpiry' | 'holderName'> &
  Partial<Pick<PaymentMethod, 'nickName' | 'issuer' | 'issuingCountry' | 'cardType'>>;

/**
 * The masked view of a stored card (payment method, card token or payment): never the number; expiry and
 * names are opened for it.
 */
export async function maskedCard(
  app: App,
  row: MaskedRow,
  model: 'PaymentMethod' | 'CardToken' | 'Payment' = 'PaymentMethod',
  now = app.clock(),
): Promise<CardView> {
  const { keyring } = app.db;
  // The three models share these fields' codecs; the AAD names the real model.
  const sealedAs = model as 'PaymentMethod';
  const expiry = (await openField(keyring, sealedAs, 'cardExpiry', row))!;
  return {
    bin: row.bin,
    last4: row.last4,
    brand: row.brand,
    expMonth: expiry.month,
    expYear: expiry.year,
    expired: isExpired(expiry.month, expiry.year, now),
    holderName: () => openField(keyring, sealedAs, 'holderName', row),
    nickName: () => (model === 'Payment' ? Promise.resolve(null) : openField(keyring, sealedAs, 'nickName', row)),
    issuer: row.issuer ?? null,
    issuingCountry: row.issuingCountry ?? null,
    cardType: row.cardType ?? null,
  };
}

export function billingOf(app: App, row: Row): Promise<Billing | null> {
  return openField(app.db.keyring, 'PaymentMethod', 'billing', row);
}
