import { readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { CreateCustomerDocument, PaymentMethodDocument, TokenizeCardDocument } from '../../packages/client/src/index.js';
import pg from 'pg';
import { createTestDatabase } from '../helpers/db.js';
import { cvcLike, dumpDatabase, ibanLike, panLike, panLikeInDump } from '../helpers/scan.js';
import { newMerchant, rawGraphQL, useDatabase } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

const getDb = useDatabase();

// Distinctive values so a scan finds them wherever they might leak.
const CARD = '4000056655665556';
const CVC = '7391';
const AMEX = '371449635398431';

describe('card data hygiene', () => {
  it('the end-of-run scan of pg_dump finds card numbers, CVCs and IBANs planted in the clear', async () => {
    const planted = await createTestDatabase();
    try {
      const client = new pg.Client({ connectionString: planted.url });
      await client.connect();
      await client.query(
        `CREATE TABLE notes (body text, meta jsonb); INSERT INTO notes VALUES ('card 4000 0566 5566 5556 exp 04/31', '{"cvc": "739"}'),
           ('refund to DE89 3704 0044 0532 0130 00', '{"iban": "NL91ABNA0417164300"}'),
           ('groups 4000,0566;5566:5556', '{"4": "0000566", "5": "5665556", "n": "4000,0566,5566,5556"}')`,
      );
      await client.end();
      const dump = await dumpDatabase(planted.url);
      expect(dump).toContain('PostgreSQL database dump');
      // In one text value or one JSON string, whatever separates the groups; not across JSON entries.
      expect(panLikeInDump(dump)).toEqual([CARD, CARD, CARD]);
      expect(cvcLike(dump)).toEqual(['cvc": "739']);
      expect(ibanLike(dump)).toEqual(['DE89370400440532013000', 'NL91ABNA0417164300']);
    } finally {
      await planted.drop();
    }
  });

  it('stores card data and personal data encrypted, bound to its row', async () => {
    const m = await newMerchant();
    const c = await m.client.request(CreateCustomerDocument, {
      input: {
        name: 'Zebulon Quartermaine',
        email: 'zeb@example.com',
        phone: '5550100',
        defaultShippingAddress: { line1: 'Sesame Street 1' },
        // Accepted entry by entry (metadata is stored in the clear); jsonb prints them as one value whose
        // digits, joined across the entries, would spell CARD: the dump scan reads entries apart, as the vault.
        metadata: { '4': '0000566', '5': '5665556' },
      },
    });
    if (c.createCustomer.__typename !== 'CreateCustomerSuccess') throw new Error('customer');
    const a = await m.client.request(TokenizeCardDocument, {
      input: {
        customerId: c.createCustomer.customer.id,
        card: { number: CARD, expMonth: 4, expYear: EXP_YEAR, cvc: CVC.slice(0, 3), holderName: 'Zebulon Quartermaine' },
      },
    });
    const b = await m.client.request(TokenizeCardDocument, { input: { card: { number: AMEX, expMonth: 5, expYear: EXP_YEAR, cvc: CVC } } });
    if (a.tokenizeCard.__typename !== 'TokenizeCardSuccess' || b.tokenizeCard.__typename !== 'TokenizeCardSuccess')
      throw new Error('tokenize');

    const dump = await dumpDatabase(inject('databaseUrl'));
    for (const secret of [CARD, AMEX, 'Zebulon', 'zeb@example.com', '5550100', 'Sesame']) expect(dump).not.toContain(secret);
    expect(panLikeInDump(dump)).toEqual([]);
    const row = await getDb().prisma.paymentMethod.findFirstOrThrow({
      where: { merchantId: m.merchantId, id: a.tokenizeCard.paymentMethod.id },
    });
    expect(row.cardNumber).toMatch(/^v1\.dk_/);
    expect(row.cardExpiry).toMatch(/^v1\.dk_/);
    expect(row.holderName).toMatch(/^v1\.dk_/);

    // A ciphertext moved to another row does not decrypt: the read fails instead of showing it. (The server
    // sealed that expiry and remembers it opened, for its own row only: the memory does not answer here.)
    const other = b.tokenizeCard.paymentMethod.id;
    await getDb().prisma
      .$executeRaw`UPDATE payment_methods SET card_expiry = ${row.cardExpiry} WHERE merchant_id = ${m.merchantId} AND id = ${other}`;
    const moved = await rawGraphQL(
      { query: 'query($id: ID!) { paymentMethod(id: $id) { card { expMonth } } }', variables: { id: other } },
      { 'api-key': m.secretKey },
    );
    expect(moved.json.errors[0].extensions.code).toBe('INTERNAL_SERVER_ERROR');
    expect(moved.json.errors[0].message).toBe('Internal server error');
    expect(moved.text).not.toContain('v1.dk_');
    // The original row still reads.
    expect((await m.client.request(PaymentMethodDocument, { id: a.tokenizeCard.paymentMethod.id })).paymentMethod?.card?.expMonth).toBe(4);
  });

  it('never echoes a card number or CVC in GraphQL errors, even for wrongly typed input', async () => {
    const m = await newMerchant();
    const doc = 'mutation($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename } }';
    const variants = [
      { card: { number: Number(CARD), expMonth: 1, expYear: EXP_YEAR } },
      { card: { number: CARD, expMonth: 1, expYear: EXP_YEAR, cvc: Number(CVC) } },
      { card: { number: CARD, expMonth: CARD, expYear: EXP_YEAR, cvc: CVC } },
      { card: { number: [CARD], expMonth: 1, expYear: EXP_YEAR } },
      { card: { number: CARD, expMonth: 1, expYear: EXP_YEAR, cvc: { value: CVC } } },
    ];
    for (const input of variants) {
      const res = await rawGraphQL({ query: doc, variables: { input } }, { 'api-key': m.secretKey });
      expect(res.json.errors?.length).toBeGreaterThan(0);
      expect(res.text).not.toContain(CARD);
      expect(res.text).not.toContain(CVC);
      expect(panLike(res.text)).toEqual([]);
    }
    const literal = await rawGraphQL(
      {
        query: `mutation { tokenizeCard(input: { card: { number: ${CARD}, expMonth: 1, expYear: ${EXP_YEAR}, cvc: ${CVC} } }) { __typename } }`,
      },
      { 'api-key': m.secretKey },
    );
    expect(literal.json.errors?.length).toBeGreaterThan(0);
    expect(literal.text).not.toContain(CARD);
    expect(literal.text).not.toContain(CVC);
  });

  it('leaves no card number or CVC in the server log', async () => {
    const m = await newMerchant();
    await m.client.request(TokenizeCardDocument, {
      input: { card: { number: CARD, expMonth: 4, expYear: EXP_YEAR, cvc: CVC.slice(0, 3) } },
    });
    await m.client.request(TokenizeCardDocument, {
      input: { card: { number: '4000056655665557', expMonth: 4, expYear: EXP_YEAR, cvc: CVC } },
    });
    await rawGraphQL({ query: `{ paymentMethod(id: "${CARD}") { id } }` }, { 'api-key': m.secretKey });
    await rawGraphQL({ query: `{ paymentMethod(id: "x") { id } }` }, { 'api-key': CARD });
    await new Promise((r) => setTimeout(r, 300)); // let the server flush its log
    const log = readFileSync(inject('serverLog'), 'utf8');
    expect(log.length).toBeGreaterThan(0);
    expect(log).toContain('"msg":"request"');
    for (const secret of [CARD, AMEX, '4000056655665557', m.secretKey]) expect(log).not.toContain(secret);
    expect(panLike(log)).toEqual([]);
  });
});
