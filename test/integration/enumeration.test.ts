import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CreateCardTokenDocument,
  CreatePaymentDocument,
  TokenizeCardDocument,
  createVaultClient,
  type VaultClient,
} from '../../packages/client/src/index.js';
import { fingerprint } from '../../src/crypto/fingerprint.js';
import { Secret } from '../../src/crypto/secret.js';
import { migrate } from '../../src/db/migrate.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { upgradeFingerprintKeys } from '../../src/domain/merchants/fingerprintKeys.js';
import { tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import type { Principal } from '../../src/domain/shared/principal.js';
import { luhnValid } from '../../src/card/number.js';
import { startServerProcess, stopProcess } from '../helpers/serverProcess.js';
import { createTestDatabase, querySql } from '../helpers/db.js';
import { clientFor, newMerchant, success, uniqueVisa, useDatabase, testApp, principalOf } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// Issue 11, item 2: a secret key without reveal permission could recover a stored card's number by
// tokenizing the Luhn-valid candidates that share its visible bin and last four and comparing fingerprints
// (or watching `duplicate`); test and live mode shared one fingerprint key.

const getDb = useDatabase();

/** `count` distinct Luhn-valid 16-digit numbers that share `bin` and `last4` (the unknown middle varies). */
function sharingBinAndLast4(bin: string, last4: string, count: number): string[] {
  const found: string[] = [];
  for (let middle = randomInt(0, 500_000); found.length < count; middle++) {
    const n = `${bin}${String(middle).padStart(6, '0')}${last4}`;
    if (luhnValid(n)) found.push(n);
  }
  return found;
}

const card = (number: string) => ({ number, expMonth: 12, expYear: EXP_YEAR });

async function tokenize(client: VaultClient, number: string, extra: Record<string, unknown> = {}) {
  return (await client.request(TokenizeCardDocument, { input: { card: card(number), ...extra } })).tokenizeCard;
}

describe('fingerprint keys per mode', () => {
  it('a test key and a live key of one merchant give the same card different fingerprints; each mode still deduplicates', async () => {
    const m = await newMerchant();
    const live = clientFor((await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'LIVE' })).key);
    const number = uniqueVisa();
    const inTest = success(await tokenize(m.client, number), 'TokenizeCardSuccess');
    const inLive = success(await tokenize(live, number), 'TokenizeCardSuccess');
    expect(inTest.duplicate).toBe(false);
    expect(inLive.duplicate).toBe(false);
    expect(inLive.paymentMethod.fingerprint).not.toBe(inTest.paymentMethod.fingerprint);

    const againTest = success(await tokenize(m.client, number), 'TokenizeCardSuccess');
    const againLive = success(await tokenize(live, number), 'TokenizeCardSuccess');
    expect(againTest).toMatchObject({
      duplicate: true,
      paymentMethod: { id: inTest.paymentMethod.id, fingerprint: inTest.paymentMethod.fingerprint },
    });
    expect(againLive).toMatchObject({
      duplicate: true,
      paymentMethod: { id: inLive.paymentMethod.id, fingerprint: inLive.paymentMethod.fingerprint },
    });
  });
});

describe('upgrade from one fingerprint key per merchant', () => {
  it('the migration makes the existing key the LIVE key, in SQL alone', async () => {
    const db = await createTestDatabase();
    const dir = await mkdtemp(path.join(tmpdir(), 'vault-migrations-'));
    try {
      const all = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));
      await cp(all, dir, { recursive: true });
      await rm(path.join(dir, '20261130030000_fingerprint_modes_card_probes'), { recursive: true });
      await migrate(db.url, { migrationsDir: dir });
      await querySql(db.url, `INSERT INTO merchants (id, name) VALUES ('mer_old', 'Before the upgrade')`);
      await querySql(
        db.url,
        `INSERT INTO data_keys (merchant_id, id, purpose, master_key_id, wrapped_key) VALUES
           ('mer_old', 'dk_enc', 'ENCRYPTION', 'test1', 'w1'), ('mer_old', 'dk_fp', 'FINGERPRINT', 'test1', 'w2')`,
      );
      await migrate(db.url);
      expect(await querySql(db.url, `SELECT id, purpose, mode, active FROM data_keys ORDER BY id`)).toEqual([
        { id: 'dk_enc', purpose: 'ENCRYPTION', mode: null, active: true },
        { id: 'dk_fp', purpose: 'FINGERPRINT', mode: 'LIVE', active: true },
      ]);
      // A fingerprint key without a mode, or an encryption key with one, is refused.
      await expect(
        querySql(
          db.url,
          `INSERT INTO data_keys (merchant_id, id, purpose, mode, master_key_id, wrapped_key) VALUES ('mer_old', 'dk_2', 'ENCRYPTION', 'LIVE', 'test1', 'w')`,
        ),
      ).rejects.toThrow(/check/);
      await expect(
        querySql(
          db.url,
          `INSERT INTO data_keys (merchant_id, id, purpose, master_key_id, wrapped_key) VALUES ('mer_old', 'dk_3', 'FINGERPRINT', 'test1', 'w')`,
        ),
      ).rejects.toThrow(/check/);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await db.drop();
    }
  });

  it('then the vault gives test mode a new key and re-fingerprints test cards, so cards vaulted before the upgrade still deduplicate in both modes', async () => {
    const m = await newMerchant();
    const liveKey = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'LIVE' });
    const { prisma, pool, keyring } = getDb();
    const as = (mode: 'TEST' | 'LIVE'): Principal => principalOf(m, { mode, keyId: `setup-${mode}` });
    const [inTest, inLive] = [uniqueVisa(), uniqueVisa()];
    const savedTest = await tokenizeCard(testApp(), as('TEST'), { card: card(inTest) });
    const savedLive = await tokenizeCard(testApp(), as('LIVE'), { card: card(inLive) });

    // What the vault looked like before: one key (now the LIVE one) fingerprinted both modes' cards.
    const legacyKey = (await keyring.fingerprintKey(m.merchantId, 'LIVE')).reveal();
    const legacy = fingerprint(legacyKey, new Secret(inTest));
    await prisma.paymentMethod.updateMany({
      where: { merchantId: m.merchantId, id: savedTest.paymentMethod.id },
      data: { fingerprint: legacy },
    });
    await pool.query(`DELETE FROM data_keys WHERE merchant_id = $1 AND purpose = 'FINGERPRINT' AND mode = 'TEST'`, [m.merchantId]);
    keyring.invalidate(m.merchantId);

    const upgraded = await upgradeFingerprintKeys(testApp());
    expect(upgraded.merchants).toBeGreaterThanOrEqual(1);
    expect(upgraded.refingerprinted).toBeGreaterThanOrEqual(1);
    expect(await upgradeFingerprintKeys(testApp())).toMatchObject({ merchants: 0 });
    const testKey = (await keyring.fingerprintKey(m.merchantId, 'TEST')).reveal();
    const row = await prisma.paymentMethod.findFirstOrThrow({ where: { merchantId: m.merchantId, id: savedTest.paymentMethod.id } });
    expect(row.fingerprint).toBe(fingerprint(testKey, new Secret(inTest)));
    expect(row.fingerprint).not.toBe(legacy);
    const audit = await prisma.auditEvent.findFirstOrThrow({ where: { merchantId: m.merchantId, action: 'data_key.create' } });
    expect(audit).toMatchObject({
      mode: 'TEST',
      keyId: 'cli',
      outcome: 'success',
      detail: { purpose: 'FINGERPRINT', mode: 'TEST', refingerprinted: 1 },
    });

    // Through the server (which never loaded this merchant's keys before): both cards are still duplicates.
    expect(success(await tokenize(m.client, inTest), 'TokenizeCardSuccess')).toMatchObject({
      duplicate: true,
      paymentMethod: { id: savedTest.paymentMethod.id },
    });
    expect(success(await tokenize(clientFor(liveKey.key), inLive), 'TokenizeCardSuccess')).toMatchObject({
      duplicate: true,
      paymentMethod: { id: savedLive.paymentMethod.id, fingerprint: savedLive.paymentMethod.fingerprint },
    });
  });
});

describe('enumeration of a stored card through tokenization', () => {
  // A server of its own with low thresholds (the shared one keeps the defaults).
  const MAX_NUMBERS = 5;
  const MAX_DUPLICATES = 4;
  let server: { url: string; child: ChildProcess };
  const clientOn = (apiKey: string) => createVaultClient({ url: server.url, apiKey });

  beforeAll(async () => {
    server = await startServerProcess(inject('databaseUrl'), inject('serverLog'), {
      VAULT_ENUMERATION_MAX_NUMBERS: String(MAX_NUMBERS),
      VAULT_ENUMERATION_MAX_DUPLICATES: String(MAX_DUPLICATES),
    });
  }, 90_000);
  afterAll(async () => {
    if (server) await stopProcess(server.child);
  });

  const refusals = (merchantId: string) =>
    getDb().prisma.auditEvent.findMany({ where: { merchantId, action: 'card.enumeration_suspected' }, orderBy: { position: 'asc' } });

  it('refuses a key that tokenizes more distinct numbers sharing a bin and last4 than the threshold, on every path, and audits it', async () => {
    const m = await newMerchant();
    const client = clientOn(m.secretKey);
    const [target, ...candidates] = sharingBinAndLast4('453201', String(randomInt(1000, 9999)), 12);
    const stored = success(await tokenize(client, target!), 'TokenizeCardSuccess');

    // The stored card and MAX_NUMBERS - 1 candidates: under the threshold.
    for (const n of candidates.slice(0, MAX_NUMBERS - 1)) {
      const r = success(await tokenize(client, n), 'TokenizeCardSuccess');
      expect(r.paymentMethod.fingerprint).not.toBe(stored.paymentMethod.fingerprint);
    }
    // One more distinct number: refused, with a typed error, and nothing stored.
    const refused = await tokenize(client, candidates[MAX_NUMBERS - 1]!);
    expect(refused).toMatchObject({ __typename: 'TooManyAttemptsError', code: 'TOO_MANY_ATTEMPTS' });
    expect((refused as { message: string }).message).not.toMatch(/\d{6,}/);

    // Saving during a payment reveals the fingerprint too: refused before anything is paid.
    const paid = (
      await client.request(CreatePaymentDocument, {
        input: { amount: 1000, currency: 'EUR', card: { ...card(candidates[MAX_NUMBERS]!), cvc: '123' }, savePaymentMethod: true },
      })
    ).createPayment;
    expect(paid).toMatchObject({ __typename: 'TooManyAttemptsError', code: 'TOO_MANY_ATTEMPTS' });

    // A card token (publishable key; its result shows no fingerprint) then tokenized with the secret key.
    const token = success(
      (
        await clientOn(m.publishableKey).request(CreateCardTokenDocument, {
          input: { card: { ...card(candidates[MAX_NUMBERS + 1]!), cvc: '123' } },
        })
      ).createCardToken,
      'CreateCardTokenSuccess',
    ).token;
    expect(await tokenize(client, '', { card: undefined, token: token.id })).toMatchObject({ code: 'TOO_MANY_ATTEMPTS' });

    // Numbers this key already tokenized, and other cards, still work.
    expect(success(await tokenize(client, target!), 'TokenizeCardSuccess')).toMatchObject({ duplicate: true });
    expect(success(await tokenize(client, candidates[0]!), 'TokenizeCardSuccess')).toMatchObject({ duplicate: true });
    expect(success(await tokenize(client, uniqueVisa()), 'TokenizeCardSuccess').duplicate).toBe(false);

    const stored5 = await getDb().prisma.paymentMethod.count({
      where: { merchantId: m.merchantId, bin: '453201', last4: target!.slice(-4) },
    });
    expect(stored5).toBe(MAX_NUMBERS);

    const events = await refusals(m.merchantId);
    expect(events.length).toBe(3);
    for (const e of events) {
      expect(e).toMatchObject({ outcome: 'refused', mode: 'TEST', entityType: 'api_key' });
      expect(JSON.stringify(e.detail)).not.toMatch(/\d{6,}/);
    }
    const keyId = (await getDb().prisma.apiKey.findFirstOrThrow({ where: { merchantId: m.merchantId, kind: 'SECRET', mode: 'TEST' } })).id;
    expect(events.every((e) => e.keyId === keyId && e.entityId === keyId)).toBe(true);

    // Nothing in the vault's own counters reads as a card number or its digits.
    const probes = await getDb().pool.query<{ row: string }>(
      'SELECT row_to_json(p)::text AS row FROM card_probes p WHERE merchant_id = $1',
      [m.merchantId],
    );
    expect(probes.rows.length).toBeGreaterThan(0);
    for (const { row } of probes.rows) {
      expect(row).not.toContain(target!.slice(6, 12));
      expect(row).not.toContain('453201');
    }
  });

  it('refuses a key whose tokenizations hit more distinct stored cards (duplicates) than the threshold', async () => {
    const m = await newMerchant();
    const client = clientOn(m.secretKey);
    const cards = Array.from({ length: MAX_DUPLICATES + 2 }, () => uniqueVisa());
    for (const n of cards) expect(success(await tokenize(client, n), 'TokenizeCardSuccess').duplicate).toBe(false);
    for (const n of cards.slice(0, MAX_DUPLICATES)) expect(success(await tokenize(client, n), 'TokenizeCardSuccess').duplicate).toBe(true);
    expect(await tokenize(client, cards[MAX_DUPLICATES]!)).toMatchObject({ __typename: 'TooManyAttemptsError', code: 'TOO_MANY_ATTEMPTS' });
    // The same card again is never a new hit.
    expect(success(await tokenize(client, cards[0]!), 'TokenizeCardSuccess').duplicate).toBe(true);
    expect((await refusals(m.merchantId)).map((e) => e.outcome)).toEqual(['refused']);
  });

  it('never refuses normal use: the same card again and again, and many different cards', async () => {
    const m = await newMerchant();
    const client = clientOn(m.secretKey);
    const number = uniqueVisa();
    for (let i = 0; i < 25; i++) {
      expect(success(await tokenize(client, number), 'TokenizeCardSuccess').duplicate).toBe(i > 0);
    }
    for (let i = 0; i < 40; i++) expect((await tokenize(client, uniqueVisa())).__typename).toBe('TokenizeCardSuccess');
    expect(await refusals(m.merchantId)).toEqual([]);
  });
});
