import { describe, expect, inject, it } from 'vitest';
import {
  CreateCustomerDocument,
  CustomerPaymentMethodsDocument,
  CustomersDocument,
  DeleteCustomerDocument,
  DeletePaymentMethodDocument,
  ExtendRetentionDocument,
  PaymentMethodDocument,
  TokenizeCardDocument,
  UpdatePaymentMethodDocument,
  type TokenizeCardMutation,
} from '../../packages/client/src/index.js';
import { newMerchant, rawGraphQL, success, useDatabase, withLuhn, type TestMerchant, testApp, principalOf } from '../helpers/vault.js';
import { querySql } from '../helpers/db.js';
import { EXP_YEAR, expectedRetainUntil, yearsAhead } from '../helpers/expiry.js';

const getDb = useDatabase();

async function tokenize(m: TestMerchant, input: Parameters<typeof m.client.request<TokenizeCardMutation, { input: any }>>[1]) {
  return (await m.client.request(TokenizeCardDocument, input)).tokenizeCard;
}

// The seed flow (customer, card, masked read, update, retention, delete), one behaviour per test. The seed
// card expired 02/27; here it expires in February two years from now, written as two digits as on the seed.
const SEED_EXP = { month: 2, year: yearsAhead(2) };

const SEED_CUSTOMER = {
  merchantReferenceId: 'customer_1742551597',
  name: 'John Doe',
  email: 'guest@example.com',
  phone: '999999999',
  phoneCountryCode: '+65',
  description: 'First customer',
  defaultBillingAddress: { line1: '1467', city: 'San Fransico', country: 'US', firstName: 'joseph', lastName: 'Doe' },
  metadata: { udf1: 'value1', new_customer: 'true' },
};

interface StoredPaymentMethod {
  customer_id: string | null;
  mode: string;
  bin: string;
  last4: string;
  brand: string;
  card_number: string;
  card_expiry: string;
  holder_name: string | null;
  retention_extension_months: number;
  retain_until: Date;
  updated_at: Date;
}

/** The stored row as the database holds it (plain SQL, no decryption): undefined when there is none. */
async function storedPaymentMethod(m: TestMerchant, id: string): Promise<StoredPaymentMethod | undefined> {
  const rows = await querySql<StoredPaymentMethod>(
    inject('databaseUrl'),
    `SELECT customer_id, mode, bin, last4, brand, card_number, card_expiry, holder_name, retention_extension_months, retain_until, updated_at
       FROM payment_methods WHERE merchant_id = $1 AND id = $2`,
    [m.merchantId, id],
  );
  return rows[0];
}

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');

async function seedCustomer(m: TestMerchant) {
  return success((await m.client.request(CreateCustomerDocument, { input: SEED_CUSTOMER })).createCustomer, 'CreateCustomerSuccess')
    .customer;
}

async function seedCard(m: TestMerchant, customerId: string) {
  return success(
    await tokenize(m, {
      input: {
        customerId,
        card: {
          number: '4111 1111 1111 1111',
          expMonth: SEED_EXP.month,
          expYear: SEED_EXP.year % 100,
          cvc: '242',
          holderName: 'John Doe',
          nickName: 'Main card',
          cardType: 'CREDIT',
          issuingCountry: 'US',
        },
        billing: {
          email: 'abc@gmail.com',
          phone: { number: '9123456789', countryCode: '+1' },
          address: { city: 'New York', country: 'US' },
        },
        metadata: { plan: 'gold' },
      },
    }),
    'TokenizeCardSuccess',
  );
}

/** A merchant with the seed customer and the seed card vaulted for it. */
async function seeded() {
  const m = await newMerchant();
  const customer = await seedCustomer(m);
  const pm = (await seedCard(m, customer.id)).paymentMethod;
  return { m, customer, pm };
}

describe('the seed flow: customer, card, masked read, update, retention, delete', () => {
  it('createCustomer returns the customer and stores it with its personal data sealed', async () => {
    const m = await newMerchant();
    const created = await seedCustomer(m);
    expect(created.id).toMatch(/^cus_[0-9A-Za-z]{22}$/);
    expect(created).toMatchObject({
      name: 'John Doe',
      email: 'guest@example.com',
      phoneCountryCode: '+65',
      merchantReferenceId: 'customer_1742551597',
    });
    expect(created.defaultBillingAddress).toMatchObject({ line1: '1467', country: 'US' });

    const rows = await querySql<{
      id: string;
      mode: string;
      merchant_reference_id: string;
      name: string;
      email: string;
      default_billing_address: string;
    }>(
      inject('databaseUrl'),
      'SELECT id, mode, merchant_reference_id, name, email, default_billing_address FROM customers WHERE merchant_id = $1',
      [m.merchantId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: created.id, mode: 'TEST', merchant_reference_id: 'customer_1742551597' });
    for (const sealed of [rows[0]!.name, rows[0]!.email, rows[0]!.default_billing_address]) {
      expect(sealed).toMatch(/^v1\./);
      expect(sealed).not.toMatch(/John|guest@|1467/);
    }
  });

  it('tokenizeCard returns the card masked, reads a two-digit year as 20yy, and keeps it until 14 months after expiry', async () => {
    const m = await newMerchant();
    const customer = await seedCustomer(m);
    const tokenized = await seedCard(m, customer.id);
    expect(tokenized.duplicate).toBe(false);
    const pm = tokenized.paymentMethod;
    expect(pm.id).toMatch(/^pm_[0-9A-Za-z]{22}$/);
    expect(pm.card).toEqual({
      bin: '411111',
      last4: '1111',
      brand: 'VISA',
      expMonth: SEED_EXP.month,
      expYear: SEED_EXP.year,
      expired: false,
      holderName: 'John Doe',
      nickName: 'Main card',
      issuer: null,
      issuingCountry: 'US',
      cardType: 'CREDIT',
    });
    expect(pm.retainUntil).toBe(expectedRetainUntil(SEED_EXP.month, SEED_EXP.year));
    expect(pm.customer?.id).toBe(customer.id);
    expect(pm.billing).toMatchObject({ email: 'abc@gmail.com', phone: { number: '9123456789', countryCode: '+1' } });
    expect(pm.metadata).toEqual({ plan: 'gold' });
    expect(JSON.stringify(pm)).not.toContain('4111111111111111');

    const row = await storedPaymentMethod(m, pm.id);
    expect(row).toMatchObject({
      customer_id: customer.id,
      mode: 'TEST',
      bin: '411111',
      last4: '1111',
      brand: 'VISA',
      retention_extension_months: 0,
    });
    expect(iso(row!.retain_until)).toBe(pm.retainUntil);
    for (const sealed of [row!.card_number, row!.card_expiry, row!.holder_name!]) expect(sealed).toMatch(/^v1\./);
    expect(JSON.stringify(row)).not.toMatch(/4111111111111111|John Doe/);
  });

  it('reads the payment method back masked, as tokenizeCard returned it, and lists it under its customer', async () => {
    const { m, customer, pm } = await seeded();
    const read = (await m.client.request(PaymentMethodDocument, { id: pm.id })).paymentMethod;
    expect(read).toEqual(pm);
    const listed = (await m.client.request(CustomerPaymentMethodsDocument, { id: customer.id })).customer;
    expect(listed?.paymentMethods.edges.map((e) => e.node.id)).toEqual([pm.id]);
    expect((await storedPaymentMethod(m, pm.id))?.customer_id).toBe(customer.id);
  });

  it('extendRetention moves retainUntil by the months given and stores the extension', async () => {
    const { m, pm } = await seeded();
    const ext6 = success(
      (await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 6 })).extendRetention,
      'ExtendRetentionSuccess',
    );
    expect(ext6.paymentMethod.retainUntil).toBe(expectedRetainUntil(SEED_EXP.month, SEED_EXP.year, 6));
    const row = await storedPaymentMethod(m, pm.id);
    expect(row?.retention_extension_months).toBe(6);
    expect(iso(row!.retain_until)).toBe(ext6.paymentMethod.retainUntil);
  });

  it('updatePaymentMethod with a new expiry moves the default retention and keeps the extension and other fields', async () => {
    const { m, pm } = await seeded();
    success((await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 6 })).extendRetention, 'ExtendRetentionSuccess');
    const newYear = SEED_EXP.year + 1;
    const updated = success(
      (
        await m.client.request(UpdatePaymentMethodDocument, {
          id: pm.id,
          input: { holderName: 'Johnny Doe', expMonth: 5, expYear: newYear },
        })
      ).updatePaymentMethod,
      'UpdatePaymentMethodSuccess',
    ).paymentMethod;
    expect(updated.card).toMatchObject({ holderName: 'Johnny Doe', expMonth: 5, expYear: newYear, nickName: 'Main card' });
    expect(updated.retainUntil).toBe(expectedRetainUntil(5, newYear, 6));
    const row = await storedPaymentMethod(m, pm.id);
    expect(row?.retention_extension_months).toBe(6);
    expect(iso(row!.retain_until)).toBe(updated.retainUntil);
    expect(row!.card_expiry).toMatch(/^v1\./);
  });

  it('extends up to 24 months in all; past that RETENTION_LIMIT_EXCEEDED, and invalid months are refused, changing nothing', async () => {
    const { m, pm } = await seeded();
    success((await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 6 })).extendRetention, 'ExtendRetentionSuccess');
    const ext18 = success(
      (await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 18 })).extendRetention,
      'ExtendRetentionSuccess',
    );
    expect(ext18.paymentMethod.retainUntil).toBe(expectedRetainUntil(SEED_EXP.month, SEED_EXP.year, 24));
    const before = await storedPaymentMethod(m, pm.id);

    const over = (await m.client.request(ExtendRetentionDocument, { id: pm.id, months: 1 })).extendRetention;
    expect(over).toMatchObject({
      __typename: 'RetentionLimitExceededError',
      code: 'RETENTION_LIMIT_EXCEEDED',
      maxMonths: 24,
      remainingMonths: 0,
    });
    for (const months of [0, 25, -1]) {
      const bad = (await m.client.request(ExtendRetentionDocument, { id: pm.id, months })).extendRetention;
      expect(bad).toMatchObject({ __typename: 'ValidationError', code: 'INVALID_INPUT' });
    }
    const afterRefusals = (await m.client.request(PaymentMethodDocument, { id: pm.id })).paymentMethod;
    expect(afterRefusals?.retainUntil).toBe(ext18.paymentMethod.retainUntil);
    expect(afterRefusals?.updatedAt).toBe(ext18.paymentMethod.updatedAt);
    const after = await storedPaymentMethod(m, pm.id);
    expect(after).toEqual(before);
    expect(after?.retention_extension_months).toBe(24);
  });

  it('deletePaymentMethod removes the row; reading it is null and deleting again is NOT_FOUND', async () => {
    const { m, pm } = await seeded();
    const deleted = (await m.client.request(DeletePaymentMethodDocument, { id: pm.id })).deletePaymentMethod;
    expect(deleted).toEqual({ __typename: 'DeletePaymentMethodSuccess', deletedId: pm.id });
    expect(await storedPaymentMethod(m, pm.id)).toBeUndefined();
    expect((await m.client.request(PaymentMethodDocument, { id: pm.id })).paymentMethod).toBeNull();
    expect((await m.client.request(DeletePaymentMethodDocument, { id: pm.id })).deletePaymentMethod).toMatchObject({
      __typename: 'NotFoundError',
      code: 'NOT_FOUND',
    });
  });

  it('deleting a customer deletes its payment methods', async () => {
    const m = await newMerchant();
    const customer = success(
      (await m.client.request(CreateCustomerDocument, { input: { name: 'Jane' } })).createCustomer,
      'CreateCustomerSuccess',
    ).customer;
    const ids: string[] = [];
    for (const number of ['4242424242424242', '5555555555554444']) {
      const r = success(
        await tokenize(m, { input: { customerId: customer.id, card: { number, expMonth: 12, expYear: EXP_YEAR } } }),
        'TokenizeCardSuccess',
      );
      ids.push(r.paymentMethod.id);
    }
    const unrelated = success(
      await tokenize(m, { input: { card: { number: '4242424242424242', expMonth: 12, expYear: EXP_YEAR } } }),
      'TokenizeCardSuccess',
    );
    const result = (await m.client.request(DeleteCustomerDocument, { id: customer.id })).deleteCustomer;
    expect(result).toEqual({ __typename: 'DeleteCustomerSuccess', deletedId: customer.id, deletedPaymentMethods: 2 });
    for (const id of ids) expect((await m.client.request(PaymentMethodDocument, { id })).paymentMethod).toBeNull();
    expect((await m.client.request(PaymentMethodDocument, { id: unrelated.paymentMethod.id })).paymentMethod).not.toBeNull();
  });

  it('lists newest first with cursor pagination, capping first at 100', async () => {
    const m = await newMerchant();
    const customer = success(
      (await m.client.request(CreateCustomerDocument, { input: {} })).createCustomer,
      'CreateCustomerSuccess',
    ).customer;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const number = withLuhn(`42424242424200${i}`);
      ids.push(
        success(
          await tokenize(m, { input: { customerId: customer.id, card: { number, expMonth: 1, expYear: EXP_YEAR } } }),
          'TokenizeCardSuccess',
        ).paymentMethod.id,
      );
    }
    const page1 = (await m.client.request(CustomerPaymentMethodsDocument, { id: customer.id, first: 3 })).customer!.paymentMethods;
    expect(page1.edges.map((e) => e.node.id)).toEqual(ids.slice(2).reverse());
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const page2 = (await m.client.request(CustomerPaymentMethodsDocument, { id: customer.id, first: 3, after: page1.pageInfo.endCursor }))
      .customer!.paymentMethods;
    expect(page2.edges.map((e) => e.node.id)).toEqual(ids.slice(0, 2).reverse());
    expect(page2.pageInfo.hasNextPage).toBe(false);
  });
});

describe('card validation', () => {
  it("refuses the seed's own example card as expired (10/25)", async () => {
    const m = await newMerchant();
    const r = await tokenize(m, { input: { card: { number: '4111111145551142', expMonth: 10, expYear: 25, cvc: '242' } } });
    expect(r).toMatchObject({ __typename: 'ValidationError', code: 'CARD_EXPIRED' });
    expect(await getDb().prisma.paymentMethod.count({ where: { merchantId: m.merchantId } })).toBe(0);
  });

  it('refuses a Luhn-invalid number as INVALID_CARD_NUMBER without echoing it', async () => {
    const m = await newMerchant();
    const r = await tokenize(m, { input: { card: { number: '4111111111111112', expMonth: 10, expYear: EXP_YEAR } } });
    expect(r).toMatchObject({ __typename: 'ValidationError', code: 'INVALID_CARD_NUMBER' });
    expect(JSON.stringify(r)).not.toMatch(/4111111111111112|111111111111/);
  });

  it('lists every bad field at once, with the first one as the code', async () => {
    const m = await newMerchant();
    const r = await tokenize(m, {
      input: {
        card: { number: '1234 5678', expMonth: 13, expYear: EXP_YEAR, cvc: '12', issuingCountry: 'XX' },
        metadata: { ok: 'x'.repeat(501) },
      },
    });
    if (r.__typename !== 'ValidationError') throw new Error(`expected ValidationError, got ${r.__typename}`);
    const byPath = Object.fromEntries(r.fields.map((f) => [f.path.join('.'), f.code]));
    expect(byPath).toMatchObject({
      'input.card.number': 'INVALID_CARD_NUMBER',
      'input.card.expMonth': 'INVALID_EXPIRY',
      'input.card.cvc': 'INVALID_CVC',
      'input.card.issuingCountry': 'INVALID_INPUT',
      'input.metadata.ok': 'INVALID_INPUT',
    });
    expect(r.code).toBe(r.fields[0]!.code);
    expect(JSON.stringify(r)).not.toMatch(/12345678|"12"/);
  });

  it('checks the CVC length by brand (4 for Amex)', async () => {
    const m = await newMerchant();
    const amex3 = await tokenize(m, { input: { card: { number: '378282246310005', expMonth: 1, expYear: EXP_YEAR, cvc: '123' } } });
    expect(amex3).toMatchObject({ __typename: 'ValidationError', code: 'INVALID_CVC' });
    const amex4 = await tokenize(m, { input: { card: { number: '378282246310005', expMonth: 1, expYear: EXP_YEAR, cvc: '1234' } } });
    expect(success(amex4, 'TokenizeCardSuccess').paymentMethod.card?.brand).toBe('AMEX');
  });

  it('refuses exactly-one-of violations and unknown customers, changing nothing', async () => {
    const m = await newMerchant();
    expect(await tokenize(m, { input: {} })).toMatchObject({ __typename: 'ValidationError', code: 'INVALID_INPUT' });
    const missing = await tokenize(m, {
      input: { customerId: 'cus_0000000000000000000000', card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } },
    });
    expect(missing).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect(await getDb().prisma.paymentMethod.count({ where: { merchantId: m.merchantId } })).toBe(0);
  });
});

describe('duplicates', () => {
  it('returns the same payment method, updated, for the same card and customer', async () => {
    const m = await newMerchant();
    const c1 = success(
      (await m.client.request(CreateCustomerDocument, { input: { name: 'A' } })).createCustomer,
      'CreateCustomerSuccess',
    ).customer;
    const c2 = success(
      (await m.client.request(CreateCustomerDocument, { input: { name: 'B' } })).createCustomer,
      'CreateCustomerSuccess',
    ).customer;
    const first = success(
      await tokenize(m, {
        input: { customerId: c1.id, card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR, holderName: 'Old' } },
      }),
      'TokenizeCardSuccess',
    );
    const again = success(
      await tokenize(m, {
        input: { customerId: c1.id, card: { number: '4242-4242-4242-4242', expMonth: 6, expYear: EXP_YEAR + 2, holderName: 'New' } },
      }),
      'TokenizeCardSuccess',
    );
    expect(again.duplicate).toBe(true);
    expect(again.paymentMethod.id).toBe(first.paymentMethod.id);
    expect(again.paymentMethod.card).toMatchObject({ expMonth: 6, expYear: EXP_YEAR + 2, holderName: 'New' });
    expect(again.paymentMethod.retainUntil).toBe(expectedRetainUntil(6, EXP_YEAR + 2));

    const other = success(
      await tokenize(m, { input: { customerId: c2.id, card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } } }),
      'TokenizeCardSuccess',
    );
    expect(other.duplicate).toBe(false);
    expect(other.paymentMethod.id).not.toBe(first.paymentMethod.id);
    expect(other.paymentMethod.fingerprint).toBe(first.paymentMethod.fingerprint);

    const loose1 = success(
      await tokenize(m, { input: { card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } } }),
      'TokenizeCardSuccess',
    );
    const loose2 = success(
      await tokenize(m, { input: { card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } } }),
      'TokenizeCardSuccess',
    );
    expect([loose1.duplicate, loose2.duplicate]).toEqual([false, true]);
    expect(loose2.paymentMethod.id).toBe(loose1.paymentMethod.id);

    const otherMerchant = await newMerchant();
    const elsewhere = success(
      await tokenize(otherMerchant, { input: { card: { number: '4242424242424242', expMonth: 1, expYear: EXP_YEAR } } }),
      'TokenizeCardSuccess',
    );
    expect(elsewhere.paymentMethod.fingerprint).not.toBe(first.paymentMethod.fingerprint);
  });

  it('a duplicate keeps the stored holder name when none is given and keeps a retention extension; it is audited as an update', async () => {
    const m = await newMerchant();
    const card = { number: '5105105105105100', expMonth: 2, expYear: EXP_YEAR, holderName: 'Kept Name' };
    const first = success(await tokenize(m, { input: { card } }), 'TokenizeCardSuccess').paymentMethod;
    success((await m.client.request(ExtendRetentionDocument, { id: first.id, months: 6 })).extendRetention, 'ExtendRetentionSuccess');
    const again = success(
      await tokenize(m, { input: { card: { number: card.number, expMonth: 9, expYear: EXP_YEAR + 1 } } }),
      'TokenizeCardSuccess',
    );
    expect(again).toMatchObject({
      duplicate: true,
      paymentMethod: { id: first.id, card: { expMonth: 9, expYear: EXP_YEAR + 1, holderName: 'Kept Name' } },
    });
    expect(again.paymentMethod.retainUntil).toBe(expectedRetainUntil(9, EXP_YEAR + 1, 6)); // the new expiry + 14 months, + the 6 months kept
    const events = await getDb().prisma.auditEvent.findMany({
      where: { merchantId: m.merchantId, entityId: first.id },
      orderBy: { position: 'asc' },
    });
    expect(events.map((e) => [e.action, (e.detail as { duplicate?: boolean } | null)?.duplicate ?? null])).toEqual([
      ['payment_method.create', false],
      ['payment_method.extend_retention', null],
      ['payment_method.update', true],
    ]);
  });

  it('converges on one payment method under concurrent tokenizations', async () => {
    const m = await newMerchant();
    const customer = success(
      (await m.client.request(CreateCustomerDocument, { input: {} })).createCustomer,
      'CreateCustomerSuccess',
    ).customer;
    for (const customerId of [customer.id, undefined]) {
      const results = await Promise.all(
        Array.from({ length: 12 }, () =>
          tokenize(m, { input: { customerId, card: { number: '5555555555554444', expMonth: 3, expYear: EXP_YEAR } } }),
        ),
      );
      const ok = results.map((r) => success(r, 'TokenizeCardSuccess'));
      expect(new Set(ok.map((r) => r.paymentMethod.id)).size).toBe(1);
      expect(ok.filter((r) => !r.duplicate)).toHaveLength(1);
    }
    expect(await getDb().prisma.paymentMethod.count({ where: { merchantId: m.merchantId } })).toBe(2);
  });
});

describe('customers list', () => {
  it('pages newest first and caps first at 100', async () => {
    const m = await newMerchant();
    const { createCustomer } = await import('../../src/domain/customers/customers.js');
    const principal = principalOf(m);
    const ids: string[] = [];
    for (let i = 0; i < 101; i++) ids.push((await createCustomer(testApp(), principal, { merchantReferenceId: `ref-${i}` })).id);
    const big = (await m.client.request(CustomersDocument, { first: 1000 })).customers;
    expect(big.edges).toHaveLength(100);
    expect(big.pageInfo.hasNextPage).toBe(true);
    const rest = (await m.client.request(CustomersDocument, { first: 1000, after: big.pageInfo.endCursor })).customers;
    expect(rest.edges).toHaveLength(1);
    expect(rest.pageInfo.hasNextPage).toBe(false);
    // Rows made within one millisecond tie on createdAt (then order by id), so compare as sets.
    const negative = await rawGraphQL({ query: '{ customers(first: -1) { edges { cursor } } }' }, { 'api-key': m.secretKey });
    expect(negative.json.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const seen = [...big.edges, ...rest.edges].map((e) => e.node.id);
    expect(new Set(seen).size).toBe(101);
    expect([...seen].sort()).toEqual([...ids].sort());
    const times = [...big.edges, ...rest.edges].map((e) => Date.parse(e.node.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });
});
