import { readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { querySql } from '../helpers/db.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { expectDocumented, rest, uniqueToken } from '../helpers/rest.js';
import { accountNumbersIn, dumpDatabase, ibanLike } from '../helpers/scan.js';
import { newMerchant, rawGraphQL, useDatabase, type TestMerchant } from '../helpers/vault.js';

useDatabase();

// Bank accounts through Hyperswitch Vault v2: `payment_method_type: "bank_debit"` with Hyperswitch's own
// BankDebitData variants, mapped onto tokenizeBankAccount (the GraphQL mutation's domain function): the same
// checks, duplicates, fingerprints and masking, answered in Hyperswitch's shapes and field names.

const IBAN_DE = 'DE89370400440532013000';
const IBAN_DE_SPACED = 'DE89 3704 0044 0532 0130 00';
const ROUTING = '110000000';
const ACH_ACCOUNT = '000123456789';
const SORT_CODE = '10-88-00';
const BACS_ACCOUNT = '00012345';
const YY = String(EXP_YEAR).slice(2);

type Subtype = 'ach' | 'sepa' | 'bacs';
const VARIANT = { ach: 'ach_bank_debit', sepa: 'sepa_bank_debit', bacs: 'bacs_bank_debit' } as const;

const DATA: Record<Subtype, Record<string, unknown>> = {
  ach: {
    account_number: ACH_ACCOUNT,
    routing_number: ROUTING,
    bank_account_holder_name: 'Grace Hopper',
    bank_type: 'checking',
    bank_holder_type: 'personal',
    bank_name: 'bank_of_america',
  },
  sepa: { iban: IBAN_DE_SPACED, bank_account_holder_name: 'Ada Lovelace', bic: 'DEUTDEFF' },
  bacs: { account_number: BACS_ACCOUNT, sort_code: SORT_CODE, bank_account_holder_name: 'Alan Turing' },
};

function bankBody(subtype: Subtype, over: Record<string, unknown> = {}, top: Record<string, unknown> = {}) {
  return {
    payment_method_type: 'bank_debit',
    payment_method_subtype: subtype,
    payment_method_data: { bank_debit: { [VARIANT[subtype]]: { ...DATA[subtype], ...over } } },
    ...top,
  };
}

async function vault(m: TestMerchant, body: unknown) {
  const res = await rest('POST', '/v2/payment-methods', { key: m.secretKey, body });
  await expectDocumented('POST', '/v2/payment-methods', res);
  return res;
}

async function newCustomer(m: TestMerchant): Promise<string> {
  const res = await rest('POST', '/v2/customers', { key: m.secretKey, body: { name: 'Bank customer' } });
  expect(res.status).toBe(200);
  return res.json.id;
}

const cardBody = (customerId: string, number = '4242424242424242') => ({
  payment_method_type: 'card',
  customer_id: customerId,
  payment_method_data: { card: { card_number: number, card_exp_month: '10', card_exp_year: YY } },
});

describe('POST /v2/payment-methods with payment_method_type "bank_debit"', () => {
  it('vaults ACH, SEPA and BACS accounts and answers them masked in Hyperswitch shapes', async () => {
    const m = await newMerchant();
    const customerId = await newCustomer(m);

    const ach = await vault(m, bankBody('ach', {}, { customer_id: customerId, billing: { email: 'grace@example.com' } }));
    expect(ach.status).toBe(200);
    expect(ach.json).toMatchObject({
      id: expect.stringMatching(/^pm_/),
      customer_id: customerId,
      payment_method_type: 'bank_debit',
      payment_method_subtype: 'ach',
      payment_method_data: {
        bank_debit: {
          ach_bank_debit: {
            account_number_last4_digits: '6789',
            routing_number: ROUTING,
            routing_number_last4_digits: '0000',
            last4_digits: '6789',
            bank_code: ROUTING,
            bank_country: 'US',
            bank_type: 'checking',
            bank_account_holder_name: 'Grace Hopper',
            nick_name: null,
            saved_to_locker: true,
          },
        },
      },
      billing: { email: 'grace@example.com' },
      connector_tokens: [],
      network_token: null,
    });
    expect(ach.text).not.toContain(ACH_ACCOUNT);

    const sepa = await vault(m, bankBody('sepa', {}, { customer_id: customerId }));
    expect(sepa.status).toBe(200);
    expect(sepa.json.payment_method_subtype).toBe('sepa');
    expect(sepa.json.payment_method_data.bank_debit.sepa_bank_debit).toMatchObject({
      iban: 'DE****************3000',
      bic: 'DEUTDEFF',
      last4_digits: '3000',
      bank_code: '37040044',
      bank_country: 'DE',
      bank_type: null,
      bank_account_holder_name: 'Ada Lovelace',
    });
    expect(ibanLike(sepa.text)).toEqual([]);

    const bacs = await vault(m, bankBody('bacs'));
    expect(bacs.status).toBe(200);
    expect(bacs.json).toMatchObject({ customer_id: null, payment_method_subtype: 'bacs' });
    expect(bacs.json.payment_method_data.bank_debit.bacs_bank_debit).toMatchObject({
      account_number: '****2345',
      sort_code: '108800',
      bank_code: '108800',
      bank_country: 'GB',
      last4_digits: '2345',
    });
    expect(bacs.text).not.toContain(BACS_ACCOUNT);

    // The same records GraphQL shows: one domain function behind both.
    const viaGraphql = await rawGraphQL(
      {
        query:
          'query($id: ID!) { paymentMethod(id: $id) { type card { last4 } bankAccount { scheme country last4 bankCode bic holderName } } }',
        variables: { id: sepa.json.id },
      },
      { 'api-key': m.secretKey },
    );
    expect(viaGraphql.json.data.paymentMethod).toEqual({
      type: 'BANK_ACCOUNT',
      card: null,
      bankAccount: { scheme: 'SEPA', country: 'DE', last4: '3000', bankCode: '37040044', bic: 'DEUTDEFF', holderName: 'Ada Lovelace' },
    });
  });

  it('the same account again returns the same payment method (also when GraphQL vaults it)', async () => {
    const m = await newMerchant();
    const customerId = await newCustomer(m);
    const first = await vault(m, bankBody('sepa', {}, { customer_id: customerId }));
    const again = await vault(
      m,
      bankBody('sepa', { iban: IBAN_DE.toLowerCase(), bank_account_holder_name: 'Ada King' }, { customer_id: customerId }),
    );
    expect(again.status).toBe(200);
    expect(again.json.id).toBe(first.json.id);
    expect(again.json.payment_method_data.bank_debit.sepa_bank_debit.bank_account_holder_name).toBe('Ada King');
    expect(again.json.payment_method_data.bank_debit.sepa_bank_debit.bank_account_fingerprint).toBe(
      first.json.payment_method_data.bank_debit.sepa_bank_debit.bank_account_fingerprint,
    );

    const ach = await vault(m, bankBody('ach'));
    const viaGraphql = await rawGraphQL(
      {
        query: `mutation($input: TokenizeBankAccountInput!) { tokenizeBankAccount(input: $input) {
          __typename ... on TokenizeBankAccountSuccess { duplicate paymentMethod { id } } } }`,
        variables: {
          input: { bankAccount: { scheme: 'ACH', holderName: 'Grace Hopper', routingNumber: ROUTING, accountNumber: ACH_ACCOUNT } },
        },
      },
      { 'api-key': m.secretKey },
    );
    expect(viaGraphql.json.data.tokenizeBankAccount).toEqual({
      __typename: 'TokenizeBankAccountSuccess',
      duplicate: true,
      paymentMethod: { id: ach.json.id },
    });

    // A card and an account never meet: another customer's account is another payment method.
    const other = await vault(m, bankBody('sepa', {}, { customer_id: await newCustomer(m) }));
    expect(other.json.id).not.toBe(first.json.id);
  });

  it('an invalid account is 422 with the fields by their names in the body, echoing no account data', async () => {
    const m = await newMerchant();
    const cases: [unknown, string[], string][] = [
      [bankBody('sepa', { iban: 'DE89370400440532013001' }), ['payment_method_data.bank_debit.sepa_bank_debit.iban'], '532013001'],
      [bankBody('sepa', { iban: 'DE8937040044053201300' }), ['payment_method_data.bank_debit.sepa_bank_debit.iban'], '53201300'],
      [bankBody('ach', { routing_number: '110000001' }), ['payment_method_data.bank_debit.ach_bank_debit.routing_number'], '110000001'],
      [bankBody('ach', { account_number: '123' }), ['payment_method_data.bank_debit.ach_bank_debit.account_number'], '"123"'],
      [bankBody('bacs', { sort_code: '10-88-0' }), ['payment_method_data.bank_debit.bacs_bank_debit.sort_code'], '10-88-0'],
      [
        bankBody('bacs', { sort_code: '1088', account_number: '1234567' }),
        ['payment_method_data.bank_debit.bacs_bank_debit.account_number', 'payment_method_data.bank_debit.bacs_bank_debit.sort_code'],
        '1234567',
      ],
    ];
    for (const [body, params, value] of cases) {
      const res = await vault(m, body);
      expect(res.status, params.join()).toBe(422);
      expect(res.json.error).toMatchObject({ type: 'bank_account_error', code: 'invalid_bank_account', param: params[0] });
      expect(res.json.error.fields.map((f: { param: string }) => f.param).sort()).toEqual(params);
      expect(res.text).not.toContain(value);
      expect(ibanLike(res.text)).toEqual([]);
    }
    // Nothing was vaulted.
    const [row] = await querySql(inject('databaseUrl'), 'SELECT count(*)::int AS n FROM payment_methods WHERE merchant_id = $1', [
      m.merchantId,
    ]);
    expect(row).toEqual({ n: 0 });
  });

  it('a malformed or inconsistent request is 400, naming the fields', async () => {
    const m = await newMerchant();
    const params = async (body: unknown) => {
      const res = await vault(m, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.type).toBe('invalid_request_error');
      expect(res.text).not.toContain(ACH_ACCOUNT);
      return (res.json.error.fields ?? [{ param: res.json.error.param }]).map((f: { param: string }) => f.param).sort();
    };
    // No holder name (Hyperswitch makes it optional; the vault needs it, as GraphQL does).
    expect(await params(bankBody('bacs', { bank_account_holder_name: null }))).toEqual([
      'payment_method_data.bank_debit.bacs_bank_debit.bank_account_holder_name',
    ]);
    // ACH takes card_holder_name in its place.
    const named = await vault(m, bankBody('ach', { bank_account_holder_name: undefined, card_holder_name: 'G. Hopper' }));
    expect(named.json.payment_method_data.bank_debit.ach_bank_debit.bank_account_holder_name).toBe('G. Hopper');
    expect(await params(bankBody('ach', {}, { payment_method_subtype: 'sepa' }))).toEqual(['payment_method_subtype']);
    expect(
      await params({
        payment_method_type: 'bank_debit',
        payment_method_data: { bank_debit: { ach_bank_debit: DATA.ach, bacs_bank_debit: DATA.bacs } },
      }),
    ).toEqual(['payment_method_data.bank_debit']);
    expect(await params({ payment_method_type: 'bank_debit', payment_method_data: {} })).toEqual(['payment_method_data.bank_debit']);
    expect(await params(bankBody('ach', {}, { psp_tokenization: { tokenization_type: 'multi_use', connector_id: 'sandbox' } }))).toEqual([
      'psp_tokenization',
    ]);
    expect(
      await params({
        ...bankBody('ach'),
        payment_method_data: { ...bankBody('ach').payment_method_data, card: cardBody('x').payment_method_data.card },
      }),
    ).toEqual(['payment_method_data.card']);
    expect(await params({ ...cardBody('x'), payment_method_data: { ...cardBody('x').payment_method_data, bank_debit: {} } })).toEqual([
      'payment_method_data.bank_debit',
    ]);
    // Becs (Australia) is not served: an unknown variant.
    const becs = await vault(m, {
      payment_method_type: 'bank_debit',
      payment_method_subtype: 'becs',
      payment_method_data: { bank_debit: { becs_bank_debit: { account_number: '000123456', bsb_number: '000000' } } },
    });
    expect(becs.status).toBe(400);
    expect(becs.text).not.toContain('000123456');
    // A field of another scheme: unknown to this variant, named in the message.
    const other = await vault(m, bankBody('ach', { sort_code: '108800' }));
    expect(other.status).toBe(400);
    expect(other.json.error).toMatchObject({
      param: 'payment_method_data.bank_debit.ach_bank_debit',
      message: expect.stringContaining('sort_code'),
    });
  });
});

describe('bank accounts on the other v2 routes', () => {
  it('the saved list holds cards and bank accounts, newest first', async () => {
    const m = await newMerchant();
    const customerId = await newCustomer(m);
    const ids: string[] = [];
    for (const body of [
      cardBody(customerId),
      bankBody('sepa', {}, { customer_id: customerId }),
      cardBody(customerId, '5555555555554444'),
      bankBody('ach', {}, { customer_id: customerId }),
      bankBody('bacs', {}, { customer_id: customerId }),
    ]) {
      const res = await vault(m, body);
      expect(res.status).toBe(200);
      ids.push(res.json.id);
      await new Promise((r) => setTimeout(r, 5)); // distinct creation times
    }
    const saved = await rest('GET', `/v2/customers/${customerId}/saved-payment-methods`, { key: m.secretKey });
    expect(saved.status).toBe(200);
    await expectDocumented('GET', '/v2/customers/{id}/saved-payment-methods', saved);
    const list = saved.json.customer_payment_methods;
    expect(list.map((p: { id: string }) => p.id)).toEqual([...ids].reverse());
    const kinds = list.map((p: { payment_method_type: string; payment_method_subtype: string | null }) =>
      p.payment_method_type === 'card' ? 'card' : p.payment_method_subtype,
    );
    expect(kinds).toEqual(['bacs', 'ach', 'card', 'sepa', 'card']);
    expect(list[2].payment_method_data.card.last4_digits).toBe('4444');
    expect(list[0]).toMatchObject({ requires_cvv: false, network_tokenization: null, psp_tokenization_enabled: false });
    expect(list[0].payment_method_data.bank_debit.bacs_bank_debit.last4_digits).toBe('2345');
    expect(saved.text).not.toContain(ACH_ACCOUNT);
    expect(ibanLike(saved.text)).toEqual([]);
  });

  it('GET, PATCH (holder and nick names; card-only fields refused) and DELETE a bank account', async () => {
    const m = await newMerchant();
    const pm = await vault(m, bankBody('ach'));
    const id = pm.json.id;

    const got = await rest('GET', `/v2/payment-methods/${id}`, { key: m.secretKey });
    expect(got.status).toBe(200);
    await expectDocumented('GET', '/v2/payment-methods/{id}', got);
    expect(got.json).toEqual(pm.json);

    const path = `/v2/payment-methods/${id}/update-saved-payment-method`;
    const patched = await rest('PATCH', path, {
      key: m.secretKey,
      body: { payment_method_data: { bank_debit: { bank_account_holder_name: 'Grace B. Hopper', nick_name: 'Payroll' } } },
    });
    expect(patched.status).toBe(200);
    await expectDocumented('PATCH', '/v2/payment-methods/{id}/update-saved-payment-method', patched);
    expect(patched.json.payment_method_data.bank_debit.ach_bank_debit).toMatchObject({
      bank_account_holder_name: 'Grace B. Hopper',
      nick_name: 'Payroll',
      account_number_last4_digits: '6789',
    });

    const refusals: [unknown, string[]][] = [
      [{ payment_method_data: { card: { card_holder_name: 'X' } } }, ['payment_method_data.card']],
      [{ connector_token_details: { token: 'tok_psp_abc' } }, ['connector_token_details']],
      [
        { payment_method_data: { bank_debit: { bank_account_holder_name: 'x'.repeat(101) } } },
        ['payment_method_data.bank_debit.bank_account_holder_name'],
      ],
      [{ payment_method_data: { bank_debit: { iban: IBAN_DE } } }, ['payment_method_data.bank_debit']], // unknown field
    ];
    for (const [body, params] of refusals) {
      const res = await rest('PATCH', path, { key: m.secretKey, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((res.json.error.fields ?? [{ param: res.json.error.param }]).map((f: { param: string }) => f.param)).toEqual(params);
      expect(ibanLike(res.text)).toEqual([]);
    }
    const unchanged = await rest('GET', `/v2/payment-methods/${id}`, { key: m.secretKey });
    expect(unchanged.json.payment_method_data.bank_debit.ach_bank_debit.bank_account_holder_name).toBe('Grace B. Hopper');

    // The bank shape on a card is refused too.
    const card = await vault(m, cardBody(await newCustomer(m)));
    const onCard = await rest('PATCH', `/v2/payment-methods/${card.json.id}/update-saved-payment-method`, {
      key: m.secretKey,
      body: { payment_method_data: { bank_debit: { nick_name: 'x' } } },
    });
    expect(onCard.status).toBe(400);
    expect(onCard.json.error.param).toBe('payment_method_data.bank_debit');

    const deleted = await rest('DELETE', `/v2/payment-methods/${id}`, { key: m.secretKey });
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual({ id });
    expect((await rest('GET', `/v2/payment-methods/${id}`, { key: m.secretKey })).status).toBe(404);
  });

  it("another merchant's bank account is absent (404) on every route, and stays untouched", async () => {
    const a = await newMerchant();
    const b = await newMerchant();
    const customerId = await newCustomer(a);
    const pm = await vault(a, bankBody('sepa', {}, { customer_id: customerId }));
    const id = pm.json.id;
    for (const [method, path, body] of [
      ['GET', `/v2/payment-methods/${id}`],
      ['GET', `/v2/customers/${customerId}/saved-payment-methods`],
      ['PATCH', `/v2/payment-methods/${id}/update-saved-payment-method`, { payment_method_data: { bank_debit: { nick_name: 'theirs' } } }],
      ['DELETE', `/v2/payment-methods/${id}`],
    ] as const) {
      const res = await rest(method, path, { key: b.secretKey, ...(body && { body }) });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.json.error.type).toBe('not_found_error');
    }
    // Nor can B vault an account for A's customer; B's own copy of the account is B's own payment method.
    const attach = await vault(b, bankBody('sepa', {}, { customer_id: customerId }));
    expect(attach.status).toBe(404);
    const own = await vault(b, bankBody('sepa'));
    expect(own.status).toBe(200);
    expect(own.json.id).not.toBe(id);
    const still = await rest('GET', `/v2/payment-methods/${id}`, { key: a.secretKey });
    expect(still.status).toBe(200);
    expect(still.json).toEqual(pm.json);
  });
});

describe('GET /openapi.json', () => {
  it("documents the bank debit variants of the request with Hyperswitch's field names", async () => {
    const doc = (await rest('GET', '/openapi.json')).json;
    const body = doc.paths['/v2/payment-methods'].post.requestBody.content['application/json'].schema;
    const variants = body.properties.payment_method_data.properties.bank_debit.properties;
    expect(Object.keys(variants).sort()).toEqual(['ach_bank_debit', 'bacs_bank_debit', 'sepa_bank_debit']);
    expect(variants.ach_bank_debit.required.sort()).toEqual(['account_number', 'routing_number']);
    expect(variants.sepa_bank_debit.required).toEqual(['iban']);
    expect(variants.bacs_bank_debit.required.sort()).toEqual(['account_number', 'sort_code']);
    const update = doc.paths['/v2/payment-methods/{id}/update-saved-payment-method'].patch.requestBody.content['application/json'].schema;
    expect(Object.keys(update.properties.payment_method_data.anyOf[0].properties)).toEqual(['card', 'bank_debit']);
  });
});

describe('bank account hygiene on the REST routes', () => {
  it('keeps IBANs and account numbers out of the server log and the database', async () => {
    const m = await newMerchant();
    const iban = 'FR1420041010050500013M02606';
    const achAccount = '5829163047';
    const bacsAccount = '61938274';
    const customerId = await newCustomer(m);
    const headers = () => ({ 'idempotency-key': uniqueToken('bank-hygiene') });
    for (const body of [
      bankBody('sepa', { iban, bic: null }, { customer_id: customerId }),
      bankBody('ach', { account_number: achAccount }, { customer_id: customerId }),
      bankBody('bacs', { account_number: bacsAccount }, { customer_id: customerId }),
    ]) {
      const res = await rest('POST', '/v2/payment-methods', { key: m.secretKey, body, headers: headers() });
      expect(res.status).toBe(200);
    }
    // Refused ones, and account data where it does not belong: a path, a metadata value, a bad IBAN.
    await rest('POST', '/v2/payment-methods', {
      key: m.secretKey,
      body: bankBody('ach', { account_number: achAccount, routing_number: '110000001' }),
    });
    await rest('POST', '/v2/payment-methods', { key: m.secretKey, body: bankBody('sepa', { iban, bic: 'NOPE' }) });
    await rest('GET', `/v2/payment-methods/${iban}`, { key: m.secretKey });
    await rest('POST', '/v2/customers', { key: m.secretKey, body: { metadata: { note: iban } } });
    await rest('GET', `/v2/customers/${customerId}/saved-payment-methods`, { key: m.secretKey });
    await new Promise((r) => setTimeout(r, 300)); // let the server flush its log

    const log = readFileSync(inject('serverLog'), 'utf8');
    expect(log).toContain('"path":"/v2/payment-methods"');
    expect(ibanLike(log)).toEqual([]);
    expect(accountNumbersIn(log, [achAccount, bacsAccount])).toEqual([]);
    const dump = await dumpDatabase(inject('databaseUrl'));
    expect(ibanLike(dump)).toEqual([]);
    expect(accountNumbersIn(dump, [achAccount, bacsAccount, '20041010050500013M02606'])).toEqual([]);
  });
});
