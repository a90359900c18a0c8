import type { App } from '../../app/app.js';
import { bankAccountFingerprint, fingerprint } from '../../crypto/fingerprint.js';
import type { Tx } from '../../db/client.js';
import { openField } from '../../db/encryption.js';
import type { Billing } from '../../db/encrypted-fields.js';
import type { Secret } from '../../crypto/secret.js';
import { newId } from '../shared/ids.js';
import { NotFound, RetentionLimitExceeded, ValidationFailed, type FieldError } from '../shared/errors.js';
import type { PaymentMethod } from '../../generated/prisma/client.js';
import { isExpired } from '../../card/expiry.js';
import type { CardInput } from '../shared/inputSchemas.js';
import {
  extendRetentionMonthsSchema,
  tokenizeBankAccountInputSchema,
  tokenizeCardInputSchema,
  updatePaymentMethodInputSchema,
  type BankAccountInput,
} from './inputs.js';
import { tspFor } from '../../integrations/tokenServices/index.js';
import { upstreamId } from '../../integrations/connectors/index.js';
import { last4 } from '../../card/number.js';
import { actorOf, appendAudit, audited } from '../audit/audit.js';
import { openCardToken, spendCardToken } from '../cardTokens/cardTokens.js';
import { findNetworkToken, storeNetworkToken } from './networkTokens.js';
import { activeMultiUseToken, recordPspToken, tokenizingConnector } from './pspTokens.js';
import { requireCustomer } from '../customers/customers.js';
import { emitEvent } from '../webhooks/events.js';
import { emitPaymentMethod } from '../webhooks/webhooks.js';
import { checkEnumeration } from './enumeration.js';
import { parseInput } from '../shared/inputs.js';
import { writing, type Principal, type Tenant } from '../shared/principal.js';
import { addMonths, bankAccountRetainUntil, MAX_RETENTION_EXTENSION_MONTHS, retainUntil } from './retention.js';
import {
  deleteExpiredBatch,
  deletePaymentMethodRow,
  findDuplicateRow,
  findPaymentMethodBatched,
  findPaymentMethodRow,
  listCustomerPaymentMethodRows,
  lockRetention,
  inTransaction,
  onPool,
  saveBankAccountRow,
  saveCardRow,
  setRetention,
  touchLastUsed,
  updatePaymentMethodRow,
  type SaveDetail,
} from './store.js';

/**
 * Vaults a card. The same number again for the same customer (or again without a customer) returns the
 * existing payment method, updated with the new expiry and holder name. Concurrent duplicates converge on
 * one row through the unique index on (merchant, mode, customer, fingerprint): the loser of the insert race
 * finds the winner's row and updates it.
 *
 * With `pspTokenization` the named connector issues a token for the card, and with `networkTokenization` the
 * token service provider a network token. Both are asked before anything is stored, so a refusal leaves
 * nothing behind. `operator`: the caller is the operator's CLI (import), not an api key: no enumeration limit.
 * A duplicate keeps its live network token and its active reusable token for the connector
 * rather than asking again; a SINGLE_USE request always gets a fresh token.
 */
export async function tokenizeCard(
  app: App,
  caller: Principal,
  input: unknown,
  now = app.clock(),
  { operator = false }: { operator?: boolean } = {},
) {
  // The payment method goes in the request's profile; its customer, card token and duplicate must be there too.
  const principal = writing(caller);
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
  // An operator (an import from the CLI, holding the master keys) is not who the limit guards against.
  if (!operator) await checkEnumeration(app, principal, card, fp, customerId, now);
  if (!connector && !tsp) {
    if (v.token) await spendCardToken(app, principal, v.token, now);
    return saveCard(app, principal, { card, customerId, billing, metadata: v.metadata, fingerprint: fp });
  }

  const existing = await findDuplicateRow(onPool(app), principal, customerId, fp);
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

  const detail = { ...(pspToken && { pspToken: connector!.id }), ...(networkToken && { networkToken: true }) };
  // The providers' ids are kept in the clear: never with the card (or the new token) they were sent in them.
  return saveCard(app, principal, { card, customerId, billing, metadata: v.metadata, id, fingerprint: fp, detail }, async (tx, pmId) => {
    if (pspToken && connector) {
      const requestReferenceId = pspToken.requestReferenceId === null ? null : upstreamId(pspToken.requestReferenceId, [card.number]);
      await recordPspToken(app, principal, pmId, { connectorId: connector.id, ...pspToken, requestReferenceId }, tx);
    }
    if (networkToken && tsp) {
      const { number } = networkToken;
      const kept = {
        ...networkToken,
        tokenReferenceId: upstreamId(networkToken.tokenReferenceId, [card.number, number]),
        last4: last4(number.reveal()),
      };
      await storeNetworkToken(app, principal, pmId, tsp.id, kept, now, tx);
    }
  });
}

/** The card's fingerprint under the fingerprint key of the principal's merchant and mode: what duplicate detection compares. */
export async function cardFingerprint(app: App, principal: Tenant, number: Secret<string>): Promise<string> {
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
  /** Facts for the audit event (which tokens came with the card). */
  detail?: SaveDetail;
}

/**
 * Stores a validated card for a customer (or none), converging on the existing payment method for it, and
 * audits it (store.ts `saveCardRow`). `within` runs in the same transaction with the payment method's id
 * (the tokens issued for it); without it each statement commits on its own.
 */
export async function saveCard(
  app: App,
  principal: Principal,
  { card, customerId, billing, metadata, id, fingerprint: known, detail }: SaveCardInput,
  within?: (tx: Tx, paymentMethodId: string) => Promise<void>,
) {
  const fp = known ?? (await cardFingerprint(app, principal, card.number));
  const row = { id: id ?? newId('pm'), customerId, fingerprint: fp, card, billing, metadata };
  if (!within) return saveCardRow(app, onPool(app), principal, row, detail);
  return app.db.prisma.$transaction(async (tx) => {
    const saved = await saveCardRow(app, inTransaction(tx), principal, row, detail);
    await within(tx, saved.paymentMethod.id);
    return saved;
  });
}

/**
 * Vaults a bank account (SEPA, ACH or BACS) in the same table as cards. The same account again for the same
 * customer (or again without one) returns the existing payment method with `duplicate: true`, its holder name
 * updated; concurrent duplicates converge through the same unique index as cards.
 */
export async function tokenizeBankAccount(app: App, caller: Principal, input: unknown, now = app.clock()) {
  // As tokenizeCard: the account, its customer and its duplicate are all in the request's profile.
  const principal = writing(caller);
  const v = parseInput(tokenizeBankAccountInputSchema, input, ['input'], now);
  const customerId = v.customerId ?? null;
  if (customerId) await requireCustomer(app, principal, customerId);
  const fp = await accountFingerprint(app, principal, v.bankAccount);
  // The answer shows the account's fingerprint and whether it is vaulted already, as for a card.
  await checkEnumeration(app, principal, v.bankAccount, fp, customerId, now);
  return saveBankAccountRow(app, onPool(app), principal, {
    id: newId('pm'),
    customerId,
    fingerprint: fp,
    account: v.bankAccount,
    billing: v.billing,
    metadata: v.metadata,
  });
}

/** A bank account's fingerprint: the scheme and the normalised account, in a domain of its own (never a card's). */
async function accountFingerprint(app: App, principal: Tenant, account: Pick<BankAccountInput, 'scheme' | 'identity'>): Promise<string> {
  const key = (await app.db.keyring.fingerprintKey(principal.merchantId, principal.mode)).reveal();
  return bankAccountFingerprint(key, account.scheme, account.identity);
}

/**
 * A payment used the payment method: its `lastUsedAt`, and for a bank account its retention, which follows
 * its last payment (the row is locked while it is computed, so a concurrent extension is kept).
 */
export async function recordPaymentMethodUse(tx: Tx, principal: Tenant, pm: Pick<PaymentMethod, 'id' | 'type'>, now: Date): Promise<void> {
  if (pm.type !== 'BANK_ACCOUNT') return touchLastUsed(tx, principal, pm.id, now);
  const locked = await lockRetention(tx, principal, pm.id);
  if (locked) await touchLastUsed(tx, principal, pm.id, now, bankAccountRetainUntil(now, locked.retentionExtensionMonths));
}

/** What an update may not change on a bank account: it has no expiry, and connectors' card tokens are for cards. */
function bankAccountRefusals(v: { expMonth?: number; expYear?: number; connectorTokenDetails?: unknown }): FieldError[] {
  const refused: FieldError[] = [];
  for (const field of ['expMonth', 'expYear'] as const) {
    if (v[field] !== undefined) refused.push({ path: ['input', field], code: 'INVALID_INPUT', message: 'A bank account has no expiry' });
  }
  if (v.connectorTokenDetails !== undefined) {
    refused.push({
      path: ['input', 'connectorTokenDetails'],
      code: 'INVALID_INPUT',
      message: 'Connector card tokens can only be recorded on a card',
    });
  }
  return refused;
}

export async function updatePaymentMethod(app: App, principal: Principal, id: string, input: unknown, now = app.clock()) {
  const v = parseInput(updatePaymentMethodInputSchema, input, ['input'], now);
  const hasExpiry = v.expMonth !== undefined && v.expYear !== undefined;
  const details = v.connectorTokenDetails;
  return audited(
    app,
    actorOf(principal),
    async (tx) => {
      // Locked first: a new expiry keeps whatever extension was granted, even one committing meanwhile.
      const existing = await lockRetention(tx, principal, id);
      if (!existing) throw new NotFound('payment method', id);
      if (existing.type === 'BANK_ACCOUNT') {
        const refused = bankAccountRefusals(v);
        if (refused.length > 0) throw new ValidationFailed(refused);
      }
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
      return emitPaymentMethod(
        app,
        tx,
        principal,
        'payment_method.updated',
        await updatePaymentMethodRow(tx, principal, id, {
          holderName: v.holderName,
          nickName: v.nickName,
          billing: v.billing,
          metadata: v.metadata,
          // A new expiry moves the default retention and keeps whatever extension was granted.
          ...(hasExpiry && {
            expiry: {
              month: v.expMonth!,
              year: v.expYear!,
              retainUntil: retainUntil(v.expMonth!, v.expYear!, existing.retentionExtensionMonths),
            },
          }),
        }),
      );
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
      const type = await deletePaymentMethodRow(tx, principal, id);
      if (!type) throw new NotFound('payment method', id);
      await emitEvent(tx, principal, 'payment_method.deleted', { id, type, deleted: true });
      return { deletedId: id };
    },
    () => ({ action: 'payment_method.delete', entityType: 'payment_method', entityId: id, outcome: 'success' }),
  );
}

/**
 * Adds 1-24 months to retainUntil; the total extension may not pass 24 months. The row is locked while the
 * new retention is computed (lockRetention), so concurrent extensions cannot overshoot the limit together and
 * a concurrent new expiry is not overwritten.
 */
export async function extendRetention(app: App, principal: Principal, id: string, months: unknown) {
  const add = parseInput(extendRetentionMonthsSchema, months, ['months'], app.clock());
  await audited(
    app,
    actorOf(principal),
    async (tx) => {
      const pm = await lockRetention(tx, principal, id);
      if (!pm) throw new NotFound('payment method', id);
      const total = pm.retentionExtensionMonths + add;
      if (total > MAX_RETENTION_EXTENSION_MONTHS) {
        throw new RetentionLimitExceeded(MAX_RETENTION_EXTENSION_MONTHS, MAX_RETENTION_EXTENSION_MONTHS - pm.retentionExtensionMonths);
      }
      await setRetention(tx, principal, id, total, addMonths(pm.retainUntil, add));
    },
    () => ({
      action: 'payment_method.extend_retention',
      entityType: 'payment_method',
      entityId: id,
      outcome: 'success',
      detail: { months: add },
    }),
  );
  const row = await findPaymentMethodRow(onPool(app), principal, id);
  if (!row) throw new NotFound('payment method', id);
  return row;
}

/**
 * A payment method of the key's tenant, or null. One prepared statement on the pool whatever the request
 * selects, shared with the reads of other requests in the same turn of the event loop
 * (`findPaymentMethodBatched`): relations a query asks for (its customer, tokens) are loaded by Pothos from
 * the row's key.
 */
export function findPaymentMethod(app: App, principal: Principal, id: string): Promise<PaymentMethod | null> {
  return findPaymentMethodBatched(app, principal, id);
}

/** A customer's payment methods, newest first (at most 100): NOT_FOUND for a customer absent or another tenant's. */
export async function listCustomerPaymentMethods(app: App, principal: Principal, customerId: string, take = 100): Promise<PaymentMethod[]> {
  await requireCustomer(app, principal, customerId);
  return listCustomerPaymentMethodRows(app, principal, customerId, Math.min(take, 100));
}

/**
 * Deletes every payment method whose retention has passed, in batches, each deletion audited
 * (`payment_method.purge`, key `system:retention`) in the batch's transaction; returns how many went.
 */
export async function purgeExpired(app: App, now = app.clock(), batchSize = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const purged = await app.db.prisma.$transaction(async (tx) => {
      const rows = await deleteExpiredBatch(tx, now, batchSize);
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
        await emitEvent(tx, row, 'payment_method.purged', { id: row.id, type: row.type, deleted: true }, 'retention', now);
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
  brand: NonNullable<PaymentMethod['brand']>;
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
  const expiry = await openField(keyring, sealedAs, 'cardExpiry', row);
  // Callers ask only for cards (`card` of a bank account is null before this is reached).
  if (!expiry || row.bin === null || row.brand === null) throw new Error(`${model} ${row.id} is not a card`);
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

export interface BankAccountView {
  scheme: NonNullable<PaymentMethod['bankScheme']>;
  country: string;
  last4: string;
  bankCode: string | null;
  bic: string | null;
  /** Decrypted only when asked for. */
  holderName(): Promise<string | null>;
  /** The payment method's nick name (null for a payment's account); decrypted only when asked for. */
  nickName(): Promise<string | null>;
  accountType: PaymentMethod['accountType'];
}

type BankRow = Pick<PaymentMethod, 'merchantId' | 'id' | 'bankScheme' | 'bankCountry' | 'last4' | 'bankCode' | 'holderName'> &
  Partial<Pick<PaymentMethod, 'bic' | 'accountType' | 'nickName'>>;

/**
 * The masked view of a bank account (a payment method, or the account a payment was made with), null for a
 * card: never the IBAN or account number, which are not even selected to be opened.
 */
export function maskedBankAccount(app: App, row: BankRow, model: 'PaymentMethod' | 'Payment' = 'PaymentMethod'): BankAccountView | null {
  if (row.bankScheme === null) return null;
  return {
    scheme: row.bankScheme,
    country: row.bankCountry ?? '',
    last4: row.last4,
    bankCode: row.bankCode,
    bic: row.bic ?? null,
    holderName: () => openField(app.db.keyring, model as 'PaymentMethod', 'holderName', row),
    nickName: () => (model === 'Payment' ? Promise.resolve(null) : openField(app.db.keyring, 'PaymentMethod', 'nickName', row)),
    accountType: row.accountType ?? null,
  };
}
