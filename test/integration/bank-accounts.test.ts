import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CapturePaymentDocument,
  CreateCustomerDocument,
  AuditEventsDocument,
  CreatePaymentDocument,
  CustomerPaymentMethodsDocument,
  DeleteCustomerDocument,
  DeletePaymentMethodDocument,
  ExtendRetentionDocument,
  ForwardRequestDocument,
  PaymentMethodDocument,
  RevealCardDocument,
  SimulateNetworkTokenEventDocument,
  TokenizeBankAccountDocument,
  TokenizeCardDocument,
  UpdatePaymentMethodDocument,
  type BankAccountInput,
  type TokenizeBankAccountInput,
} from '../../packages/client/src/index.js';
import type { App } from '../../src/app/app.js';
import { migrate } from '../../src/db/migrate.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { forwardHosts } from '../../src/domain/merchants/allowLists.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { upgradeFingerprintKeys } from '../../src/domain/merchants/fingerprintKeys.js';
import { bankAccountFingerprint } from '../../src/crypto/fingerprint.js';
import { Secret } from '../../src/crypto/secret.js';
import { extendRetention, purgeExpired, tokenizeBankAccount } from '../../src/domain/paymentMethods/paymentMethods.js';
import { createPayment } from '../../src/domain/payments/payments.js';
import type { Principal } from '../../src/domain/shared/principal.js';
import { createTestApp, createTestDatabase, querySql, type TestDatabase } from '../helpers/db.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { accountNumbersIn, dumpDatabase, ibanLike } from '../helpers/scan.js';
import { clientFor, newMerchant, success, testApp, uniqueVisa, useDatabase, type TestMerchant, principalOf } from '../helpers/vault.js';

useDatabase();

// Test accounts. IBANs valid under ISO 13616 (mod-97 and their country's length); ACH routing numbers with a
// valid ABA checksum. The sandbox answers by the last four digits: 0002 account_closed, 9995 insufficient_funds.
const IBAN_DE = 'DE89370400440532013000';
const IBAN_DE_SPACED = 'DE89 3704 0044 0532 0130 00';
const IBAN_NL = 'NL91ABNA0417164300';
const ROUTING = '110000000';
const ACH_OK = '000123456789';
const ACH_CLOSED = '000123450002';
const ACH_NO_FUNDS = '000123459995';
const SORT_CODE = '10-88-00';
const BACS_ACCOUNT = '00012345';

const sepa = (extra: Partial<BankAccountInput> = {}): BankAccountInput => ({
  scheme: 'SEPA',
  holderName: 'Ada Lovelace',
  iban: IBAN_DE_SPACED,
  ...extra,
});
const ach = (accountNumber = ACH_OK, extra: Partial<BankAccountInput> = {}): BankAccountInput => ({
  scheme: 'ACH',
  holderName: 'Grace Hopper',
  routingNumber: ROUTING,
  accountNumber,
  accountType: 'CHECKING',
  ...extra,
});
const bacs = (extra: Partial<BankAccountInput> = {}): BankAccountInput => ({
  scheme: 'BACS',
  holderName: 'Alan Turing',
  sortCode: SORT_CODE,
  accountNumber: BACS_ACCOUNT,
  ...extra,
});

async function tokenizeRaw(m: TestMerchant, input: TokenizeBankAccountInput) {
  return (await m.client.request(TokenizeBankAccountDocument, { input })).tokenizeBankAccount;
}

async function vaultAccount(m: TestMerchant, bankAccount: BankAccountInput, extra: Omit<TokenizeBankAccountInput, 'bankAccount'> = {}) {
  return success(await tokenizeRaw(m, { bankAccount, ...extra }), 'TokenizeBankAccountSuccess');
}

async function newCustomer(m: TestMerchant, name = 'Account holder') {
  return success((await m.client.request(CreateCustomerDocument, { input: { name } })).createCustomer, 'CreateCustomerSuccess').customer;
}

async function pay(m: TestMerchant, paymentMethodId: string, extra: Record<string, unknown> = {}) {
  return (await m.client.request(CreatePaymentDocument, { input: { amount: 1250, currency: 'EUR', paymentMethodId, ...extra } }))
    .createPayment;
}

interface StoredRow {
  type: string;
  card_number: string | null;
  card_expiry: string | null;
  bin: string | null;
  brand: string | null;
  account_number: string | null;
  holder_name: string | null;
  last4: string;
  bank_scheme: string | null;
  bank_code: string | null;
  bank_country: string | null;
  retain_until: Date;
  retention_extension_months: number;
  last_used_at: Date | null;
  created_at: Date;
}

async function stored(merchantId: string, id: string, databaseUrl = inject('databaseUrl')): Promise<StoredRow | undefined> {
  const rows = await querySql<StoredRow>(databaseUrl, 'SELECT * FROM payment_methods WHERE merchant_id = $1 AND id = $2', [merchantId, id]);
  return rows[0];
}

async function countRows(merchantId: string): Promise<{ methods: number; events: number }> {
  const [row] = await querySql<{ methods: number; events: number }>(
    inject('databaseUrl'),
    `SELECT (SELECT count(*) FROM payment_methods WHERE merchant_id = $1)::int AS methods,
            (SELECT count(*) FROM audit_events WHERE merchant_id = $1)::int AS events`,
    [merchantId],
  );
  return row!;
}

/** The retention rule restated as the specification: 1st of (month of `at` + 14 + extension), 00:00 UTC. */
function expectedRetention(at: Date, extensionMonths = 0): string {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 14 + extensionMonths, 1)).toISOString().replace('.000Z', 'Z');
}

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');

describe('tokenizeBankAccount', () => {
  it('vaults a SEPA account: masked view only, IBAN encrypted, retention from its creation', async () => {
    const m = await newMerchant();
    const { paymentMethod: pm, duplicate } = await vaultAccount(m, sepa({ bic: 'deutdeff', accountType: 'SAVINGS' }), {
      metadata: { order: 'A-1' },
      billing: { email: 'ada@example.com' },
    });
    expect(duplicate).toBe(false);
    expect(pm).toMatchObject({
      type: 'BANK_ACCOUNT',
      card: null,
      bankAccount: {
        scheme: 'SEPA',
        country: 'DE',
        last4: '3000',
        bankCode: '37040044',
        bic: 'DEUTDEFF',
        holderName: 'Ada Lovelace',
        accountType: 'SAVINGS',
      },
      metadata: { order: 'A-1' },
      billing: { email: 'ada@example.com' },
      lastUsedAt: null,
    });
    expect(pm.id).toMatch(/^pm_/);
    expect(pm.retainUntil).toBe(expectedRetention(new Date(pm.createdAt)));

    const row = (await stored(m.merchantId, pm.id))!;
    expect(row).toMatchObject({ type: 'BANK_ACCOUNT', card_number: null, card_expiry: null, bin: null, brand: null, last4: '3000' });
    expect(row.account_number).toMatch(/^v1\.dk_/);
    expect(row.holder_name).toMatch(/^v1\.dk_/);
    expect(JSON.stringify(row)).not.toContain('0532013000');
    expect((await m.client.request(PaymentMethodDocument, { id: pm.id })).paymentMethod).toEqual(pm);
  });

  it('vaults ACH (country US, the routing number as bank code) and BACS (GB, the sort code) accounts', async () => {
    const m = await newMerchant();
    const a = (await vaultAccount(m, ach())).paymentMethod;
    expect(a.bankAccount).toEqual({
      scheme: 'ACH',
      country: 'US',
      last4: '6789',
      bankCode: ROUTING,
      bic: null,
      holderName: 'Grace Hopper',
      accountType: 'CHECKING',
    });
    const b = (await vaultAccount(m, bacs())).paymentMethod;
    expect(b.bankAccount).toMatchObject({ scheme: 'BACS', country: 'GB', last4: '2345', bankCode: '108800', accountType: null });
    expect(a.fingerprint).not.toBe(b.fingerprint);
  });

  it('refuses invalid accounts of every scheme, listing every failing field, and stores and audits nothing', async () => {
    const m = await newMerchant();
    const before = await countRows(m.merchantId);
    const cases: [BankAccountInput, string[]][] = [
      [sepa({ iban: 'DE89370400440532013001' }), ['input.bankAccount.iban:INVALID_BANK_ACCOUNT']], // bad mod-97
      [sepa({ iban: 'DE8937040044053201300' }), ['input.bankAccount.iban:INVALID_BANK_ACCOUNT']], // wrong length for DE
      [sepa({ bic: 'DEUTDEF' }), ['input.bankAccount.bic:INVALID_BANK_ACCOUNT']],
      [ach(ACH_OK, { routingNumber: '110000001' }), ['input.bankAccount.routingNumber:INVALID_BANK_ACCOUNT']], // bad ABA checksum
      [ach('123'), ['input.bankAccount.accountNumber:INVALID_BANK_ACCOUNT']],
      [bacs({ sortCode: '10-88-0' }), ['input.bankAccount.sortCode:INVALID_BANK_ACCOUNT']],
      [
        bacs({ sortCode: '1088', accountNumber: '1234567' }),
        ['input.bankAccount.accountNumber:INVALID_BANK_ACCOUNT', 'input.bankAccount.sortCode:INVALID_BANK_ACCOUNT'],
      ],
      [
        { scheme: 'ACH', holderName: 'X', iban: IBAN_DE },
        [
          'input.bankAccount.iban:INVALID_INPUT',
          'input.bankAccount.routingNumber:INVALID_INPUT',
          'input.bankAccount.accountNumber:INVALID_INPUT',
        ],
      ],
    ];
    for (const [bankAccount, fields] of cases) {
      const r = await tokenizeRaw(m, { bankAccount });
      if (r.__typename !== 'ValidationError') throw new Error(`expected a ValidationError, got ${r.__typename}`);
      expect(r.fields.map((f) => `${f.path.join('.')}:${f.code}`)).toEqual(fields);
      expect(r.code).toBe(r.fields[0]!.code);
      // Messages say what failed, never the value.
      expect(JSON.stringify(r)).not.toMatch(/0532013|1234567|110000001/);
    }
    expect(await countRows(m.merchantId)).toEqual(before);
  });

  it('returns the existing payment method for the same account and customer (spaces, case), a new one for another customer', async () => {
    const m = await newMerchant();
    const c1 = await newCustomer(m);
    const c2 = await newCustomer(m);
    const first = (await vaultAccount(m, sepa(), { customerId: c1.id })).paymentMethod;
    const again = await vaultAccount(m, sepa({ iban: IBAN_DE.toLowerCase(), holderName: 'Ada King' }), { customerId: c1.id });
    expect(again.duplicate).toBe(true);
    expect(again.paymentMethod.id).toBe(first.id);
    expect(again.paymentMethod.bankAccount?.holderName).toBe('Ada King');
    expect(again.paymentMethod.fingerprint).toBe(first.fingerprint);
    const other = await vaultAccount(m, sepa(), { customerId: c2.id });
    expect(other.duplicate).toBe(false);
    expect(other.paymentMethod.id).not.toBe(first.id);
    // Without a customer: one payment method per account too.
    const loose = (await vaultAccount(m, ach())).paymentMethod;
    const looseAgain = await vaultAccount(m, ach());
    expect([looseAgain.duplicate, looseAgain.paymentMethod.id]).toEqual([true, loose.id]);
  });

  it('converges concurrent tokenizations of one account on one payment method', async () => {
    const m = await newMerchant();
    const c = await newCustomer(m);
    const results = await Promise.all(Array.from({ length: 6 }, () => vaultAccount(m, bacs(), { customerId: c.id })));
    expect(new Set(results.map((r) => r.paymentMethod.id)).size).toBe(1);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  });

  it("an account's fingerprint differs across merchants, and another tenant's id reads as absent", async () => {
    const m = await newMerchant();
    const other = await newMerchant();
    const mine = (await vaultAccount(m, sepa())).paymentMethod;
    const theirs = (await vaultAccount(other, sepa())).paymentMethod;
    expect(theirs.fingerprint).not.toBe(mine.fingerprint);
    expect((await other.client.request(PaymentMethodDocument, { id: mine.id })).paymentMethod).toBeNull();
    const update = (await other.client.request(UpdatePaymentMethodDocument, { id: mine.id, input: { holderName: 'Mallory' } }))
      .updatePaymentMethod;
    const extend = (await other.client.request(ExtendRetentionDocument, { id: mine.id, months: 3 })).extendRetention;
    const del = (await other.client.request(DeletePaymentMethodDocument, { id: mine.id })).deletePaymentMethod;
    const payment = await pay(other, mine.id);
    for (const r of [update, extend, del, payment]) expect(r).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    // Untouched.
    expect((await m.client.request(PaymentMethodDocument, { id: mine.id })).paymentMethod).toEqual(mine);
  });

  it('lists bank accounts with the customer cards for one-click checkout, newest first', async () => {
    const m = await newMerchant();
    const c = await newCustomer(m);
    const card1 = success(
      (
        await m.client.request(TokenizeCardDocument, {
          input: { customerId: c.id, card: { number: uniqueVisa(), expMonth: 1, expYear: EXP_YEAR } },
        })
      ).tokenizeCard,
      'TokenizeCardSuccess',
    ).paymentMethod;
    const account = (await vaultAccount(m, ach(), { customerId: c.id })).paymentMethod;
    const card2 = success(
      (
        await m.client.request(TokenizeCardDocument, {
          input: { customerId: c.id, card: { number: uniqueVisa(), expMonth: 2, expYear: EXP_YEAR } },
        })
      ).tokenizeCard,
      'TokenizeCardSuccess',
    ).paymentMethod;
    const sepaAccount = (await vaultAccount(m, sepa(), { customerId: c.id })).paymentMethod;
    const list = (await m.client.request(CustomerPaymentMethodsDocument, { id: c.id, first: 10 })).customer!.paymentMethods.edges.map(
      (e) => e.node,
    );
    expect(list.map((pm) => [pm.id, pm.type, pm.card?.last4 ?? pm.bankAccount?.last4])).toEqual([
      [sepaAccount.id, 'BANK_ACCOUNT', '3000'],
      [card2.id, 'CARD', card2.card!.last4],
      [account.id, 'BANK_ACCOUNT', '6789'],
      [card1.id, 'CARD', card1.card!.last4],
    ]);
    for (const pm of list) expect(pm.card === null).toBe(pm.type === 'BANK_ACCOUNT');
  });
});

describe('a bank account through the shared payment method operations', () => {
  it('updatePaymentMethod changes holder name, nick name, billing and metadata', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, sepa())).paymentMethod;
    const updated = success(
      (
        await m.client.request(UpdatePaymentMethodDocument, {
          id: pm.id,
          input: { holderName: 'Augusta Ada King', nickName: 'Salary', billing: { address: { city: 'London' } }, metadata: { k: 'v' } },
        })
      ).updatePaymentMethod,
      'UpdatePaymentMethodSuccess',
    ).paymentMethod;
    expect(updated.bankAccount).toMatchObject({ holderName: 'Augusta Ada King', last4: '3000' });
    expect(updated.billing?.address?.city).toBe('London');
    expect(updated.metadata).toEqual({ k: 'v' });
    expect(updated.retainUntil).toBe(pm.retainUntil);
  });

  it('refuses expiry fields and connector card tokens on a bank account, changing nothing', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, ach())).paymentMethod;
    const expiry = (
      await m.client.request(UpdatePaymentMethodDocument, { id: pm.id, input: { holderName: 'Changed', expMonth: 5, expYear: EXP_YEAR } })
    ).updatePaymentMethod;
    if (expiry.__typename !== 'ValidationError') throw new Error(expiry.__typename);
    expect(expiry.fields).toEqual([
      { path: ['input', 'expMonth'], code: 'INVALID_INPUT', message: 'A bank account has no expiry' },
      { path: ['input', 'expYear'], code: 'INVALID_INPUT', message: 'A bank account has no expiry' },
    ]);
    const token = (
      await m.client.request(UpdatePaymentMethodDocument, {
        id: pm.id,
        input: { connectorTokenDetails: { connectorId: 'sandbox', token: 'sbxtok_a0000000000000000000000' } },
      })
    ).updatePaymentMethod;
    expect(token).toMatchObject({ __typename: 'ValidationError', fields: [{ path: ['input', 'connectorTokenDetails'] }] });
    expect((await m.client.request(PaymentMethodDocument, { id: pm.id })).paymentMethod).toEqual(pm);
  });

  it('deletePaymentMethod destroys the account: the id then reads as absent', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, bacs())).paymentMethod;
    expect(
      success((await m.client.request(DeletePaymentMethodDocument, { id: pm.id })).deletePaymentMethod, 'DeletePaymentMethodSuccess'),
    ).toEqual({
      __typename: 'DeletePaymentMethodSuccess',
      deletedId: pm.id,
    });
    expect(await stored(m.merchantId, pm.id)).toBeUndefined();
    expect((await m.client.request(PaymentMethodDocument, { id: pm.id })).paymentMethod).toBeNull();
    expect((await m.client.request(DeletePaymentMethodDocument, { id: pm.id })).deletePaymentMethod.__typename).toBe('NotFoundError');
    // Vaulted again, it is a new payment method.
    const again = await vaultAccount(m, bacs());
    expect([again.duplicate, again.paymentMethod.id === pm.id]).toEqual([false, false]);
  });

  it('extendRetention adds months up to 24 in total, as for cards', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, sepa())).paymentMethod;
    const created = new Date(pm.createdAt);
    const ext = success(
      (await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 6 })).extendRetention,
      'ExtendRetentionSuccess',
    );
    expect(ext.paymentMethod.retainUntil).toBe(expectedRetention(created, 6));
    success((await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 18 })).extendRetention, 'ExtendRetentionSuccess');
    const over = (await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 1 })).extendRetention;
    expect(over).toMatchObject({ __typename: 'RetentionLimitExceededError', maxMonths: 24, remainingMonths: 0 });
    expect((await m.client.request(PaymentMethodDocument, { id: pm.id })).paymentMethod?.retainUntil).toBe(expectedRetention(created, 24));
  });
});

describe('enumeration of stored accounts', () => {
  it('refuses a key that tries many accounts sharing one bank code and last four (audited), as for cards', async () => {
    const m = await newMerchant();
    // A BACS account shows its sort code and last four: only four digits are unknown. The limit is 20 per window.
    const candidates = Array.from({ length: 21 }, (_, i) => `${String(i).padStart(4, '0')}5678`);
    for (const accountNumber of candidates.slice(0, 20))
      success(await tokenizeRaw(m, { bankAccount: bacs({ accountNumber }) }), 'TokenizeBankAccountSuccess');
    const refused = await tokenizeRaw(m, { bankAccount: bacs({ accountNumber: candidates[20] }) });
    expect(refused).toMatchObject({ __typename: 'TooManyAttemptsError', code: 'TOO_MANY_ATTEMPTS' });
    expect(refused.__typename === 'TooManyAttemptsError' && refused.message).toContain('bank accounts');
    // An account tokenized before in the window is still allowed (the same account again is normal).
    expect((await tokenizeRaw(m, { bankAccount: bacs({ accountNumber: candidates[3] }) })).__typename).toBe('TokenizeBankAccountSuccess');
    // Another sort code is another group.
    expect((await tokenizeRaw(m, { bankAccount: bacs({ sortCode: '20-00-00', accountNumber: candidates[20] }) })).__typename).toBe(
      'TokenizeBankAccountSuccess',
    );
    const [event] = await querySql<{ detail: unknown }>(
      inject('databaseUrl'),
      `SELECT detail FROM audit_events WHERE merchant_id = $1 AND action = 'card.enumeration_suspected'`,
      [m.merchantId],
    );
    expect(event?.detail).toMatchObject({ signal: 'BIN_LAST4', type: 'BANK_ACCOUNT' });
    expect((await countRows(m.merchantId)).methods).toBe(21);
  });
});

describe('customers and the audit trail', () => {
  it('deleting a customer deletes its bank accounts with its cards', async () => {
    const m = await newMerchant();
    const c = await newCustomer(m);
    const account = (await vaultAccount(m, sepa(), { customerId: c.id })).paymentMethod;
    success(
      (
        await m.client.request(TokenizeCardDocument, {
          input: { customerId: c.id, card: { number: uniqueVisa(), expMonth: 1, expYear: EXP_YEAR } },
        })
      ).tokenizeCard,
      'TokenizeCardSuccess',
    );
    const deleted = success((await m.client.request(DeleteCustomerDocument, { id: c.id })).deleteCustomer, 'DeleteCustomerSuccess');
    expect(deleted.deletedPaymentMethods).toBe(2);
    expect(await stored(m.merchantId, account.id)).toBeUndefined();
  });

  it('audits every change of a bank account as for a card, with the scheme and never the account', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, ach())).paymentMethod;
    await vaultAccount(m, ach());
    success(
      (await m.client.request(UpdatePaymentMethodDocument, { id: pm.id, input: { nickName: 'Rent' } })).updatePaymentMethod,
      'UpdatePaymentMethodSuccess',
    );
    success((await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 1 })).extendRetention, 'ExtendRetentionSuccess');
    const payment = success(await pay(m, pm.id), 'CreatePaymentSuccess').payment;
    success((await m.client.request(DeletePaymentMethodDocument, { id: pm.id })).deletePaymentMethod, 'DeletePaymentMethodSuccess');
    const events = (await m.client.request(AuditEventsDocument, { first: 50 })).auditEvents.edges
      .map((e) => e.node)
      .filter((e) => e.entityId === pm.id || e.entityId === payment.id);
    expect(events.map((e) => [e.action, e.entityId, e.outcome]).reverse()).toEqual([
      ['payment_method.create', pm.id, 'success'],
      ['payment_method.update', pm.id, 'success'],
      ['payment_method.update', pm.id, 'success'],
      ['payment_method.extend_retention', pm.id, 'success'],
      ['payment.create', payment.id, 'success'],
      ['payment_method.delete', pm.id, 'success'],
    ]);
    const details = await querySql<{ action: string; detail: unknown }>(
      inject('databaseUrl'),
      'SELECT action, detail FROM audit_events WHERE merchant_id = $1 AND entity_id IN ($2, $3) ORDER BY position',
      [m.merchantId, pm.id, payment.id],
    );
    // Written in the merchant's default profile (no x-profile-id): the events name it, as a card's do.
    const profileId = m.defaultProfileId;
    expect(details[0]).toEqual({
      action: 'payment_method.create',
      detail: { duplicate: false, type: 'BANK_ACCOUNT', scheme: 'ACH', profileId },
    });
    expect(details[1]).toEqual({
      action: 'payment_method.update',
      detail: { duplicate: true, type: 'BANK_ACCOUNT', scheme: 'ACH', profileId },
    });
    expect(details[4]).toMatchObject({ action: 'payment.create', detail: { instrument: 'BANK_ACCOUNT', paymentMethodId: pm.id } });
    expect(accountNumbersIn(JSON.stringify(details), [ACH_OK])).toEqual([]);
  });
});

describe('paying with a bank account', () => {
  it('the sandbox completes a debit (authorizes it with manual capture), with no challenge, and shows the masked account', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, ach())).paymentMethod;
    const payment = success(await pay(m, pm.id, { returnUrl: 'https://shop.example/back' }), 'CreatePaymentSuccess').payment;
    expect(payment).toMatchObject({
      status: 'COMPLETED',
      amountCaptured: 1250,
      instrument: 'BANK_ACCOUNT',
      redirectUrl: null,
      card: null,
      bankAccount: { scheme: 'ACH', last4: '6789', bankCode: ROUTING, country: 'US', holderName: 'Grace Hopper' },
      paymentMethod: { id: pm.id },
    });
    const manual = success(await pay(m, pm.id, { captureMethod: 'MANUAL' }), 'CreatePaymentSuccess').payment;
    expect([manual.status, manual.amountCaptured]).toEqual(['AUTHORIZED', 0]);
    const captured = success((await m.client.request(CapturePaymentDocument, { id: manual.id })).capturePayment, 'CapturePaymentSuccess');
    expect([captured.payment.status, captured.payment.amountCaptured]).toEqual(['COMPLETED', 1250]);
  });

  it('answers 0002 with account_closed and 9995 with insufficient_funds, as FAILED payments', async () => {
    const m = await newMerchant();
    const closed = (await vaultAccount(m, ach(ACH_CLOSED))).paymentMethod;
    const poor = (await vaultAccount(m, ach(ACH_NO_FUNDS))).paymentMethod;
    expect(success(await pay(m, closed.id), 'CreatePaymentSuccess').payment).toMatchObject({
      status: 'FAILED',
      failureCode: 'account_closed',
      amountCaptured: 0,
    });
    expect(success(await pay(m, poor.id, { captureMethod: 'MANUAL' }), 'CreatePaymentSuccess').payment).toMatchObject({
      status: 'FAILED',
      failureCode: 'insufficient_funds',
    });
  });

  it('every payment moves lastUsedAt and retainUntil (14 months after the month of the payment), keeping the extension', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, sepa())).paymentMethod;
    success((await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 2 })).extendRetention, 'ExtendRetentionSuccess');
    // As if the account had been created and last used long ago.
    await querySql(
      inject('databaseUrl'),
      `UPDATE payment_methods SET created_at = '2024-03-10T00:00:00Z', last_used_at = '2024-03-10T00:00:00Z', retain_until = '2025-07-01T00:00:00Z'
        WHERE merchant_id = $1 AND id = $2`,
      [m.merchantId, pm.id],
    );
    const before = Date.now();
    const payment = success(await pay(m, pm.id, { amount: 1 }), 'CreatePaymentSuccess').payment;
    expect(payment.status).toBe('COMPLETED');
    const row = (await stored(m.merchantId, pm.id))!;
    expect(row.last_used_at!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(iso(row.retain_until)).toBe(expectedRetention(row.last_used_at!, 2));
    const read = (await m.client.request(PaymentMethodDocument, { id: pm.id })).paymentMethod!;
    expect(read.retainUntil).toBe(iso(row.retain_until));
    expect(read.lastUsedAt).not.toBeNull();
  });

  it('a declined payment is a transaction too: it moves retainUntil', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, ach(ACH_CLOSED))).paymentMethod;
    await querySql(
      inject('databaseUrl'),
      `UPDATE payment_methods SET retain_until = '2025-01-01T00:00:00Z' WHERE merchant_id = $1 AND id = $2`,
      [m.merchantId, pm.id],
    );
    expect(success(await pay(m, pm.id), 'CreatePaymentSuccess').payment.status).toBe('FAILED');
    const row = (await stored(m.merchantId, pm.id))!;
    expect(iso(row.retain_until)).toBe(expectedRetention(row.last_used_at!));
  });

  it('merchant-initiated payments need a completed customer-initiated one first, as for cards', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, bacs())).paymentMethod;
    expect(await pay(m, pm.id, { initiator: 'MERCHANT' })).toMatchObject({ __typename: 'ValidationError' });
    success(await pay(m, pm.id), 'CreatePaymentSuccess');
    expect(success(await pay(m, pm.id, { initiator: 'MERCHANT' }), 'CreatePaymentSuccess').payment.status).toBe('COMPLETED');
  });
});

describe('card-only operations refuse a bank account', () => {
  it('revealCard answers a ValidationError (and audits the attempt as failed)', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, sepa())).paymentMethod;
    const revealer = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', allowReveal: true });
    const r = (await clientFor(revealer.key).request(RevealCardDocument, { id: pm.id })).revealCard;
    expect(r).toMatchObject({
      __typename: 'ValidationError',
      code: 'INVALID_INPUT',
      fields: [{ path: ['id'], code: 'INVALID_INPUT', message: 'This payment method is a bank account: only a card can be revealed' }],
    });
    const [event] = await querySql<{ outcome: string }>(
      inject('databaseUrl'),
      `SELECT outcome FROM audit_events WHERE merchant_id = $1 AND entity_id = $2 AND action = 'payment_method.reveal'`,
      [m.merchantId, pm.id],
    );
    expect(event?.outcome).toBe('failed');
  });

  it('forwardRequest refuses to fill card templates from a bank account, sending nothing', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, ach())).paymentMethod;
    await forwardHosts.allow(testApp(), m.merchantId, 'psp.invalid');
    const r = (
      await m.client.request(ForwardRequestDocument, {
        input: { paymentMethodId: pm.id, url: 'http://psp.invalid/charge', method: 'POST', body: '{"number":"{{card.number}}"}' },
      })
    ).forwardRequest;
    expect(r).toMatchObject({ __typename: 'ValidationError', fields: [{ path: ['input', 'paymentMethodId'], code: 'INVALID_INPUT' }] });
    const [forwarded] = await querySql<{ n: number }>(
      inject('databaseUrl'),
      `SELECT count(*)::int AS n FROM audit_events WHERE merchant_id = $1 AND action = 'payment_method.forward'`,
      [m.merchantId],
    );
    expect(forwarded?.n).toBe(0);
  });

  it('network token events have no token to act on', async () => {
    const m = await newMerchant();
    const pm = (await vaultAccount(m, bacs())).paymentMethod;
    const r = (await m.client.request(SimulateNetworkTokenEventDocument, { input: { paymentMethodId: pm.id, event: 'SUSPEND' } }))
      .simulateNetworkTokenEvent;
    expect(r).toMatchObject({ __typename: 'ConflictError' });
  });
});

describe('bank account hygiene', () => {
  it('keeps IBANs and account numbers out of the database, the audit trail and the server log', async () => {
    const m = await newMerchant();
    const c = await newCustomer(m);
    const a = (await vaultAccount(m, sepa({ iban: IBAN_NL, bic: 'ABNANL2A' }), { customerId: c.id })).paymentMethod;
    const b = (await vaultAccount(m, ach('83749152063'), { customerId: c.id })).paymentMethod;
    const d = (await vaultAccount(m, bacs({ accountNumber: '73915286' }), { customerId: c.id })).paymentMethod;
    for (const pm of [a, b, d]) success(await pay(m, pm.id), 'CreatePaymentSuccess');
    success(
      (await m.client.request(UpdatePaymentMethodDocument, { id: a.id, input: { holderName: 'Renamed' } })).updatePaymentMethod,
      'UpdatePaymentMethodSuccess',
    );
    await tokenizeRaw(m, { bankAccount: sepa({ iban: IBAN_NL, bic: 'NOPE' }) }); // refused: its error names no IBAN
    success((await m.client.request(DeletePaymentMethodDocument, { id: d.id })).deletePaymentMethod, 'DeletePaymentMethodSuccess');

    const audit = JSON.stringify(
      await querySql(inject('databaseUrl'), 'SELECT * FROM audit_events WHERE merchant_id = $1', [m.merchantId]),
    );
    expect(audit).toContain('payment_method.create');
    expect(ibanLike(audit)).toEqual([]);
    expect(accountNumbersIn(audit, ['83749152063', '73915286', '0417164300'])).toEqual([]);

    const dump = await dumpDatabase(inject('databaseUrl'));
    expect(ibanLike(dump)).toEqual([]);
    expect(accountNumbersIn(dump, ['83749152063', '73915286', '0417164300'])).toEqual([]);

    await new Promise((r) => setTimeout(r, 300)); // let the server flush its log
    const log = readFileSync(inject('serverLog'), 'utf8');
    expect(ibanLike(log)).toEqual([]);
    expect(accountNumbersIn(log, ['83749152063', '73915286'])).toEqual([]);
  });

  it('the scans find an IBAN or a known account number planted in the clear', async () => {
    const text = `note: pay to ${IBAN_DE_SPACED}; ach 8374-9152-063 | ${JSON.stringify({ iban: IBAN_NL.toLowerCase() })}`;
    expect(ibanLike(text)).toEqual([IBAN_DE, IBAN_NL]);
    expect(accountNumbersIn(text, ['83749152063', '73915286'])).toEqual(['83749152063']);
  });
});

// Purge and the fingerprint key upgrade act on every merchant: on a database of their own, through the
// domain functions.
describe('purge and fingerprint upgrade of bank accounts', () => {
  let database: TestDatabase;
  let app: App;
  let principal: Principal;

  beforeAll(async () => {
    database = await createTestDatabase();
    await migrate(database.url);
    app = await createTestApp(database.url);
    const m = await createMerchant(app, { name: 'Purge' });
    principal = principalOf(m, { keyId: 'key_purge', requestId: 'req-purge' });
  });
  afterAll(async () => {
    await app.stop();
    await database.drop();
  });

  it('purges an account past its retention with its audit event, and keeps one whose payment moved its retention', async () => {
    const old = await tokenizeBankAccount(app, principal, { bankAccount: sepa() });
    const used = await tokenizeBankAccount(app, principal, { bankAccount: ach() });
    const past = new Date(Date.now() - 1000);
    await app.db.prisma.paymentMethod.updateMany({ where: { merchantId: principal.merchantId }, data: { retainUntil: past } });
    await createPayment(
      app,
      principal,
      { amount: 100, currency: 'USD', paymentMethodId: used.paymentMethod.id },
      { baseUrl: 'http://vault.test' },
    );
    await extendRetention(app, principal, used.paymentMethod.id, 1);

    expect(await purgeExpired(app)).toBe(1);
    expect(await stored(principal.merchantId, old.paymentMethod.id, database.url)).toBeUndefined();
    const kept = (await stored(principal.merchantId, used.paymentMethod.id, database.url))!;
    expect(iso(kept.retain_until)).toBe(expectedRetention(kept.last_used_at!, 1));
    const events = await app.db.prisma.auditEvent.findMany({ where: { entityId: old.paymentMethod.id }, orderBy: { position: 'asc' } });
    expect(events.map((e) => [e.action, e.keyId])).toEqual([
      ['payment_method.create', 'key_purge'],
      ['payment_method.purge', 'system:retention'],
    ]);
  });

  it('the upgrade to fingerprint keys per mode re-fingerprints test-mode bank accounts, so they still deduplicate', async () => {
    const m = await createMerchant(app, { name: 'Upgrade' });
    const as = principalOf(m, { keyId: 'key_up' });
    const a = await tokenizeBankAccount(app, as, { bankAccount: sepa() });
    const b = await tokenizeBankAccount(app, as, { bankAccount: ach() });
    const { keyring, pool } = app.db;
    // Before the upgrade one key (now the LIVE one) fingerprinted both modes.
    const legacyKey = (await keyring.fingerprintKey(m.merchantId, 'LIVE')).reveal();
    await pool.query('UPDATE payment_methods SET fingerprint = $3 WHERE merchant_id = $1 AND id = $2', [
      m.merchantId,
      a.paymentMethod.id,
      bankAccountFingerprint(legacyKey, 'SEPA', new Secret(IBAN_DE)),
    ]);
    await pool.query('UPDATE payment_methods SET fingerprint = $3 WHERE merchant_id = $1 AND id = $2', [
      m.merchantId,
      b.paymentMethod.id,
      bankAccountFingerprint(legacyKey, 'ACH', new Secret(`${ROUTING}:${ACH_OK}`)),
    ]);
    await pool.query(`DELETE FROM data_keys WHERE merchant_id = $1 AND purpose = 'FINGERPRINT' AND mode = 'TEST'`, [m.merchantId]);
    keyring.invalidate(m.merchantId);

    expect(await upgradeFingerprintKeys(app)).toMatchObject({ merchants: 1, refingerprinted: 2 });
    const againA = await tokenizeBankAccount(app, as, { bankAccount: sepa() });
    const againB = await tokenizeBankAccount(app, as, { bankAccount: ach() });
    expect([againA.duplicate, againA.paymentMethod.id]).toEqual([true, a.paymentMethod.id]);
    expect([againB.duplicate, againB.paymentMethod.id]).toEqual([true, b.paymentMethod.id]);
  });
});
