import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { createProfile } from '../../src/domain/merchants/profiles.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, querySql } from '../helpers/db.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { newMerchant, rawGraphQL, type RawAnswer, testApp, uniqueVisa, useDatabase } from '../helpers/vault.js';

// Profiles (business units): records belong to one; x-profile-id scopes a request to one; a key may be
// restricted to one. A profile id the key may not use is refused (403 FORBIDDEN) before anything executes.

const getDb = useDatabase();

const PROFILES_MIGRATION = '20261203200000_profiles';

/** The operator CLI against the test server's database (profile commands touch no data keys). */
function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      DATABASE_URL: inject('databaseUrl'),
      VAULT_MASTER_KEYS: TEST_MASTER_KEYS,
      LOG_LEVEL: 'warn',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function gql(key: string, query: string, variables: Record<string, unknown> = {}, profile?: string): Promise<RawAnswer> {
  return rawGraphQL({ query, variables }, { 'api-key': key, ...(profile !== undefined && { 'x-profile-id': profile }) });
}

const CREATE_CUSTOMER = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  __typename ... on CreateCustomerSuccess { customer { id profileId } } ... on Error { code } } }`;
const TOKENIZE = `mutation($input: TokenizeCardInput!) { tokenizeCard(input: $input) {
  __typename ... on TokenizeCardSuccess { duplicate paymentMethod { id profileId customer { id } } } ... on Error { code } } }`;
const CREATE_PAYMENT = `mutation($input: CreatePaymentInput!) { createPayment(input: $input) {
  __typename ... on CreatePaymentSuccess { payment { id profileId status } } ... on Error { code } } }`;
const CUSTOMER = 'query($id: ID!) { customer(id: $id) { id profileId paymentMethods(first: 10) { edges { node { id } } } } }';
const CUSTOMERS = 'query { customers(first: 100) { edges { node { id profileId } } } }';
const PAYMENT_METHOD = 'query($id: ID!) { paymentMethod(id: $id) { id profileId } }';
const PAYMENT = 'query($id: ID!) { payment(id: $id) { id profileId } }';
const DELETE_PM = 'mutation($id: ID!) { deletePaymentMethod(id: $id) { __typename ... on Error { code } } }';

const card = (number = uniqueVisa()) => ({ number, expMonth: 12, expYear: EXP_YEAR });

async function createCustomer(key: string, profile?: string) {
  const r = await gql(key, CREATE_CUSTOMER, { input: { name: 'Profiled' } }, profile);
  expect(r.json.data.createCustomer.__typename, r.text).toBe('CreateCustomerSuccess');
  return r.json.data.createCustomer.customer as { id: string; profileId: string };
}

async function tokenize(key: string, input: Record<string, unknown>, profile?: string) {
  const r = await gql(key, TOKENIZE, { input }, profile);
  expect(r.json.data.tokenizeCard.__typename, r.text).toBe('TokenizeCardSuccess');
  return r.json.data.tokenizeCard as { duplicate: boolean; paymentMethod: { id: string; profileId: string } };
}

async function pay(key: string, input: Record<string, unknown>, profile?: string) {
  const r = await gql(key, CREATE_PAYMENT, { input: { amount: 1000, currency: 'EUR', ...input } }, profile);
  return r.json.data.createPayment as { __typename: string; payment?: { id: string; profileId: string }; code?: string };
}

/** A merchant with a second profile, and a customer, a card under it and a payment in each profile. */
async function seed() {
  const m = await newMerchant();
  const other = await createProfile(testApp(), { merchantId: m.merchantId, name: 'Second brand' });
  const records = async (profile?: string) => {
    const customer = await createCustomer(m.secretKey, profile);
    const pm = (await tokenize(m.secretKey, { customerId: customer.id, card: card() }, profile)).paymentMethod;
    const payment = (await pay(m.secretKey, { paymentMethodId: pm.id }, profile)).payment!;
    return { customer, pm, payment };
  };
  return { m, other, inDefault: await records(), inOther: await records(other) };
}

const customerRows = (merchantId: string) => getDb().prisma.customer.count({ where: { merchantId } });
const paymentMethodRows = (merchantId: string) => getDb().prisma.paymentMethod.count({ where: { merchantId } });

// Each CLI run starts a process through tsx: seconds each, more on a busy machine (four in one test).
describe('profile CLI', { timeout: 120_000 }, () => {
  it('profile create --json prints the new id alone; profile list shows the default first; key create --profile restricts a key', async () => {
    const m = await newMerchant();
    const created = cli(['profile', 'create', '--merchant', m.merchantId, '--name', 'EU shop', '--json']);
    expect(created.status, created.stderr).toBe(0);
    const { profileId, ...rest } = JSON.parse(created.stdout);
    expect(rest).toEqual({});
    expect(profileId).toMatch(/^pro_[0-9A-Za-z]{22}$/);
    expect(created.stdout.trim().split('\n')).toHaveLength(1);

    const listed = cli(['profile', 'list', '--merchant', m.merchantId, '--json']);
    expect(listed.status, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ profileId: m.defaultProfileId, isDefault: true, name: 'default' }),
      expect.objectContaining({ profileId, isDefault: false, name: 'EU shop' }),
    ]);

    const key = cli(['key', 'create', '--merchant', m.merchantId, '--kind', 'secret', '--mode', 'test', '--profile', profileId, '--json']);
    expect(key.status, key.stderr).toBe(0);
    const { keyId, key: secret } = JSON.parse(key.stdout);
    const keys = cli(['key', 'list', '--merchant', m.merchantId, '--json']);
    expect(JSON.parse(keys.stdout)).toContainEqual(expect.objectContaining({ keyId, profileId }));
    // The key acts in its profile without any header.
    expect((await createCustomer(secret)).profileId).toBe(profileId);
  });

  it("refuses a key for another merchant's profile or an unknown one, and lists no profiles of an unknown merchant", async () => {
    const [m, stranger] = [await newMerchant(), await newMerchant()];
    const args = ['key', 'create', '--merchant', m.merchantId, '--kind', 'secret', '--mode', 'test', '--json'];
    const foreign = cli([...args, '--profile', stranger.defaultProfileId]);
    expect(foreign.status).toBe(1);
    expect(foreign.stdout).toBe('');
    expect(foreign.stderr).toContain('No profile');
    await expect(
      createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', profileId: 'pro_0000000000000000000000' }),
    ).rejects.toThrow('No profile');
    expect(await getDb().prisma.apiKey.count({ where: { merchantId: m.merchantId } })).toBe(2);
    const unknown = cli(['profile', 'list', '--merchant', 'mer_0000000000000000000000', '--json']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('No merchant');
  });
});

describe('x-profile-id', () => {
  it('scopes reads and lists to one profile; another profile reads exactly like an absent id', async () => {
    const { m, other, inDefault, inOther } = await seed();
    const key = m.secretKey;
    // With the header: only that profile's records.
    expect((await gql(key, CUSTOMER, { id: inOther.customer.id }, other)).json.data.customer).toMatchObject({
      id: inOther.customer.id,
      profileId: other,
      paymentMethods: { edges: [{ node: { id: inOther.pm.id } }] },
    });
    expect((await gql(key, PAYMENT_METHOD, { id: inOther.pm.id }, other)).json.data.paymentMethod).toEqual({
      id: inOther.pm.id,
      profileId: other,
    });
    expect((await gql(key, PAYMENT, { id: inOther.payment.id }, other)).json.data.payment).toEqual({
      id: inOther.payment.id,
      profileId: other,
    });
    const listed = (await gql(key, CUSTOMERS, {}, other)).json.data.customers.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(listed).toEqual([inOther.customer.id]);

    // The default profile's records, seen from the other profile: as absent as an id that never existed.
    for (const [query, id, absent] of [
      [CUSTOMER, inDefault.customer.id, 'cus_0000000000000000000000'],
      [PAYMENT_METHOD, inDefault.pm.id, 'pm_0000000000000000000000'],
      [PAYMENT, inDefault.payment.id, 'pay_0000000000000000000000'],
    ] as const) {
      const foreign = await gql(key, query, { id }, other);
      const none = await gql(key, query, { id: absent }, other);
      expect(foreign.status).toBe(200);
      expect(foreign.json).toEqual(none.json);
    }
    // Writes too: another profile's payment method is NOT_FOUND, and stays.
    expect((await gql(key, DELETE_PM, { id: inDefault.pm.id }, other)).json.data.deletePaymentMethod).toMatchObject({ code: 'NOT_FOUND' });
    expect((await gql(key, PAYMENT_METHOD, { id: inDefault.pm.id })).json.data.paymentMethod).not.toBeNull();

    // The default profile named in the header: its records only.
    const inDefaultList = (await gql(key, CUSTOMERS, {}, m.defaultProfileId)).json.data.customers.edges;
    expect(inDefaultList.map((e: { node: { id: string } }) => e.node.id)).toEqual([inDefault.customer.id]);
    expect((await gql(key, PAYMENT_METHOD, { id: inOther.pm.id }, m.defaultProfileId)).json.data.paymentMethod).toBeNull();
  });

  it('without the header a key sees every profile, and what it creates goes in the default profile', async () => {
    const { m, other, inDefault, inOther } = await seed();
    expect(inDefault.customer.profileId).toBe(m.defaultProfileId);
    expect(inDefault.pm.profileId).toBe(m.defaultProfileId);
    expect(inDefault.payment.profileId).toBe(m.defaultProfileId);
    expect([inOther.customer.profileId, inOther.pm.profileId, inOther.payment.profileId]).toEqual([other, other, other]);
    const all = (await gql(m.secretKey, CUSTOMERS)).json.data.customers.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(all.sort()).toEqual([inDefault.customer.id, inOther.customer.id].sort());
    expect((await gql(m.secretKey, PAYMENT_METHOD, { id: inOther.pm.id })).json.data.paymentMethod).toEqual({
      id: inOther.pm.id,
      profileId: other,
    });
    // The audit trail says which profile a request acted in (a creation: the one it wrote into).
    const detailOf = async (entityId: string, action: string) =>
      (await getDb().prisma.auditEvent.findFirstOrThrow({ where: { merchantId: m.merchantId, entityId, action } })).detail;
    expect(await detailOf(inOther.customer.id, 'customer.create')).toEqual({ profileId: other });
    expect(await detailOf(inOther.pm.id, 'payment_method.create')).toMatchObject({ duplicate: false, profileId: other });
    expect(await detailOf(inDefault.pm.id, 'payment_method.create')).toMatchObject({ profileId: m.defaultProfileId });
    // Stored rows agree with the API.
    const rows = await getDb().prisma.paymentMethod.findMany({
      where: { merchantId: m.merchantId },
      select: { id: true, profileId: true },
    });
    expect(new Map(rows.map((r) => [r.id, r.profileId]))).toEqual(
      new Map([
        [inDefault.pm.id, m.defaultProfileId],
        [inOther.pm.id, other],
      ]),
    );
  });

  it('a payment method or payment refers only to records of its own profile', async () => {
    const { m, other, inDefault } = await seed();
    // Under the default profile's customer, from the other profile: the customer is absent.
    const r = await gql(m.secretKey, TOKENIZE, { input: { customerId: inDefault.customer.id, card: card() } }, other);
    expect(r.json.data.tokenizeCard).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect(await pay(m.secretKey, { paymentMethodId: inDefault.pm.id }, other)).toMatchObject({ code: 'NOT_FOUND' });
    // Without the header the request writes into the default profile: another profile's customer is absent too.
    const customerOfOther = await createCustomer(m.secretKey, other);
    const unscoped = await gql(m.secretKey, TOKENIZE, { input: { customerId: customerOfOther.id, card: card() } });
    expect(unscoped.json.data.tokenizeCard).toMatchObject({ code: 'NOT_FOUND' });
  });

  it("auditEvents in a profile shows that profile's activity only; without the header a key sees every profile's", async () => {
    const { m, other, inDefault, inOther } = await seed();
    const restricted = (await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', profileId: other })).key;
    const AUDIT = 'query($entityId: ID) { auditEvents(first: 100, entityId: $entityId) { edges { node { action entityId } } } }';
    const entities = async (key: string, profile?: string, entityId?: string) => {
      const r = await gql(key, AUDIT, entityId ? { entityId } : {}, profile);
      expect(r.status, r.text).toBe(200);
      return new Set(r.json.data.auditEvents.edges.map((e: { node: { entityId: string | null } }) => e.node.entityId));
    };
    const everything = await entities(m.secretKey);
    for (const id of [inDefault.customer.id, inDefault.pm.id, inOther.customer.id, inOther.pm.id]) expect(everything).toContain(id);
    for (const [key, profile] of [
      [m.secretKey, other],
      [restricted, undefined],
      [restricted, other],
    ] as const) {
      const seen = await entities(key, profile);
      for (const id of [inOther.customer.id, inOther.pm.id, inOther.payment.id]) expect(seen).toContain(id);
      for (const id of [inDefault.customer.id, inDefault.pm.id, inDefault.payment.id]) expect(seen).not.toContain(id);
      expect((await entities(key, profile, inDefault.pm.id)).size).toBe(0);
    }
    // The default profile's records were made without the header: not events of a request in that profile.
    expect([...(await entities(m.secretKey, m.defaultProfileId))]).not.toContain(inOther.pm.id);
  });

  it('detects duplicates within a profile: the same card in two profiles is two payment methods', async () => {
    const m = await newMerchant();
    const other = await createProfile(testApp(), { merchantId: m.merchantId, name: 'B' });
    const number = uniqueVisa();
    const first = await tokenize(m.secretKey, { card: card(number) });
    const again = await tokenize(m.secretKey, { card: card(number) });
    expect(again).toMatchObject({ duplicate: true, paymentMethod: { id: first.paymentMethod.id } });
    const elsewhere = await tokenize(m.secretKey, { card: card(number) }, other);
    expect(elsewhere.duplicate).toBe(false);
    expect(elsewhere.paymentMethod).toMatchObject({ profileId: other });
    expect(elsewhere.paymentMethod.id).not.toBe(first.paymentMethod.id);
    expect((await tokenize(m.secretKey, { card: card(number) }, other)).paymentMethod.id).toBe(elsewhere.paymentMethod.id);
  });
});

describe('profiles a key may not use: 403 FORBIDDEN, nothing executed', () => {
  const expectForbidden = (r: RawAnswer) => {
    expect(r.status, r.text).toBe(403);
    expect(r.json.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(r.json.data).toBeUndefined();
    expect(r.text).not.toContain('4242');
  };

  it('an unknown profile id, a malformed one, and another merchant’s profile', async () => {
    const [m, stranger] = [await newMerchant(), await newMerchant()];
    for (const profile of ['pro_0000000000000000000000', 'not-a-profile', stranger.defaultProfileId]) {
      expectForbidden(await gql(m.secretKey, CUSTOMERS, {}, profile));
      expectForbidden(await gql(m.secretKey, CREATE_CUSTOMER, { input: { name: 'never' } }, profile));
      expectForbidden(await gql(m.secretKey, TOKENIZE, { input: { card: card() } }, profile));
    }
    // The stranger's key with its own profile is fine; ours wrote nothing.
    expect((await gql(stranger.secretKey, CUSTOMERS, {}, stranger.defaultProfileId)).status).toBe(200);
    expect(await customerRows(m.merchantId)).toBe(0);
    expect(await paymentMethodRows(m.merchantId)).toBe(0);
  });

  it('a restricted key acts in its profile with or without the header, and is refused any other', async () => {
    const { m, other, inDefault, inOther } = await seed();
    const restricted = (await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST', profileId: other })).key;
    for (const header of [undefined, other]) {
      const listed = (await gql(restricted, CUSTOMERS, {}, header)).json.data.customers.edges.map(
        (e: { node: { id: string; profileId: string } }) => e.node,
      );
      expect(listed).toContainEqual({ id: inOther.customer.id, profileId: other });
      expect(listed.every((c: { profileId: string }) => c.profileId === other)).toBe(true);
      expect((await gql(restricted, PAYMENT_METHOD, { id: inDefault.pm.id }, header)).json.data.paymentMethod).toBeNull();
      expect((await gql(restricted, PAYMENT_METHOD, { id: inOther.pm.id }, header)).json.data.paymentMethod).toMatchObject({
        profileId: other,
      });
      expect((await gql(restricted, PAYMENT, { id: inDefault.payment.id }, header)).json.data.payment).toBeNull();
      expect((await createCustomer(restricted, header)).profileId).toBe(other);
    }
    const before = [await customerRows(m.merchantId), await paymentMethodRows(m.merchantId)];
    for (const profile of [m.defaultProfileId, 'pro_0000000000000000000000']) {
      expectForbidden(await gql(restricted, CUSTOMER, { id: inDefault.customer.id }, profile));
      expectForbidden(await gql(restricted, CREATE_CUSTOMER, { input: { name: 'never' } }, profile));
      expectForbidden(await gql(restricted, TOKENIZE, { input: { card: card() } }, profile));
      expectForbidden(await gql(restricted, DELETE_PM, { id: inOther.pm.id }, profile));
    }
    expect([await customerRows(m.merchantId), await paymentMethodRows(m.merchantId)]).toEqual(before);
    expect((await gql(m.secretKey, PAYMENT_METHOD, { id: inOther.pm.id })).json.data.paymentMethod).not.toBeNull();
  });

  it('a publishable key restricted to a profile makes card tokens there, usable from that profile only', async () => {
    const m = await newMerchant();
    const other = await createProfile(testApp(), { merchantId: m.merchantId, name: 'B' });
    const pk = (await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'PUBLISHABLE', mode: 'TEST', profileId: other })).key;
    const token = await gql(
      pk,
      'mutation($input: CreateCardTokenInput!) { createCardToken(input: $input) { __typename ... on CreateCardTokenSuccess { token { id profileId } } } }',
      {
        input: { card: { ...card(), cvc: '123' } },
      },
    );
    const tokenId = token.json.data.createCardToken.token.id as string;
    expect(token.json.data.createCardToken.token.profileId).toBe(other);
    expect((await getDb().prisma.cardToken.findFirstOrThrow({ where: { id: tokenId } })).profileId).toBe(other);
    // From the default profile (no header) the token is absent; from its own profile it vaults the card there.
    expect((await gql(m.secretKey, TOKENIZE, { input: { token: tokenId } })).json.data.tokenizeCard).toMatchObject({ code: 'NOT_FOUND' });
    expect((await tokenize(m.secretKey, { token: tokenId }, other)).paymentMethod.profileId).toBe(other);
  });
});

describe('migration 20261203200000_profiles', () => {
  it('gives every existing merchant one default profile and moves its existing records into it', async () => {
    const db = await createTestDatabase();
    const before = await mkdtemp(path.join(tmpdir(), 'vault-migrations-'));
    try {
      const all = path.join(process.cwd(), 'prisma', 'migrations');
      for (const name of await readdir(all)) {
        if (name < PROFILES_MIGRATION) await cp(path.join(all, name), path.join(before, name), { recursive: true });
      }
      await migrate(db.url, { migrationsDir: before });
      await querySql(
        db.url,
        `INSERT INTO merchants (id, name) VALUES ('mer_a', 'a'), ('mer_b', 'b');
         INSERT INTO api_keys (merchant_id, id, kind, mode, key_hash, prefix) VALUES ('mer_a', 'key_a', 'SECRET', 'TEST', 'h', 'sk_test');
         INSERT INTO customers (merchant_id, id, mode) VALUES ('mer_a', 'cus_a', 'TEST'), ('mer_b', 'cus_b', 'LIVE');
         INSERT INTO payment_methods (merchant_id, id, mode, customer_id, type, fingerprint, card_number, card_expiry, bin, last4, brand, retain_until)
           VALUES ('mer_a', 'pm_a', 'TEST', 'cus_a', 'CARD', 'fp', 'x', 'x', '424242', '4242', 'VISA', now()),
                  ('mer_a', 'pm_a2', 'TEST', NULL, 'CARD', 'fp', 'x', 'x', '424242', '4242', 'VISA', now());
         INSERT INTO card_tokens (merchant_id, id, mode, card_expiry, bin, last4, brand, expires_at)
           VALUES ('mer_b', 'tok_b', 'TEST', 'x', '424242', '4242', 'VISA', now());
         INSERT INTO payments (merchant_id, id, mode, amount, currency, status, capture_method, initiator, bin, last4, brand, card_expiry, connector_id)
           VALUES ('mer_b', 'pay_b', 'TEST', 1000, 'EUR', 'COMPLETED', 'AUTOMATIC', 'CUSTOMER', '424242', '4242', 'VISA', 'x', 'sandbox');`,
      );
      await migrate(db.url);

      const profiles = await querySql<{ merchant_id: string; id: string; is_default: boolean }>(
        db.url,
        'SELECT merchant_id, id, is_default FROM profiles ORDER BY merchant_id',
      );
      expect(profiles.map((p) => [p.merchant_id, p.is_default])).toEqual([
        ['mer_a', true],
        ['mer_b', true],
      ]);
      for (const p of profiles) expect(p.id).toMatch(/^pro_[0-9A-Za-z]{22}$/);
      const defaultOf = new Map(profiles.map((p) => [p.merchant_id, p.id]));
      const rows = await querySql<{ merchant_id: string; profile_id: string }>(
        db.url,
        `SELECT merchant_id, profile_id FROM customers UNION ALL SELECT merchant_id, profile_id FROM payment_methods
         UNION ALL SELECT merchant_id, profile_id FROM card_tokens UNION ALL SELECT merchant_id, profile_id FROM payments`,
      );
      expect(rows).toHaveLength(6);
      for (const r of rows) expect(r.profile_id).toBe(defaultOf.get(r.merchant_id));
      expect(await querySql(db.url, 'SELECT profile_id FROM api_keys')).toEqual([{ profile_id: null }]);
    } finally {
      await rm(before, { recursive: true, force: true });
      await db.drop();
    }
  });
});
