// The card number and CVC are Secrets from the input schema on: printed, serialised or logged by accident,
// they show `[REDACTED]`, so neither the number (nor its middle digits) nor the CVC can reach text.
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/crypto/secret.js';
import { decodeField, encodeField } from '../../src/db/encrypted-fields.js';
import { tokenizeCardInputSchema } from '../../src/domain/paymentMethods/inputs.js';
import { validate } from '../../src/domain/shared/inputSchemas.js';
import { parseInput } from '../../src/domain/shared/inputs.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { cardDigitsIn, renderings } from '../helpers/renderings.js';

// Amex, so that the CVC has four digits: a run that no timestamp or id in the output can produce by chance.
const NUMBER = '371449635398431';
const CVC = '7391';
const REFUSED_CVC = '58206';
const leaked = (text: string, cvc = CVC) => cardDigitsIn(text, NUMBER, cvc);
const NOW = new Date('2026-01-15T00:00:00Z');

const input = { card: { number: NUMBER, expMonth: 12, expYear: EXP_YEAR, cvc: CVC, holderName: 'Ada Lovelace' } };

describe('card data as a Secret', () => {
  it("a tokenization's parsed input shows neither the number nor the CVC, while the sealing path still gets them", () => {
    const parsed = validate(tokenizeCardInputSchema, input, ['input'], { now: NOW });
    if (!parsed.ok) throw new Error('the input should pass');
    const card = parsed.value.card!;
    for (const text of [...renderings(parsed.value), ...renderings(card), ...renderings(card.number), ...renderings(card.cvc)]) {
      expect(leaked(text), text).toEqual([]);
    }
    expect(card).toMatchObject({ bin: '371449', last4: '8431', brand: 'AMEX' });
    expect(card.number.reveal()).toBe(NUMBER);
    expect(card.cvc?.reveal()).toBe(CVC);
    expect(encodeField('PaymentMethod', 'cardNumber', card.number)).toBe(NUMBER);
  });

  it('errors built from card data, carelessly or by validation, show neither', () => {
    const parsed = validate(tokenizeCardInputSchema, input, ['input'], { now: NOW });
    if (!parsed.ok) throw new Error('the input should pass');
    const { card } = parsed.value;
    const careless = new Error(`declined ${card!.number} (${card!.cvc}) ${JSON.stringify(card)}`, { cause: card });
    let refused: unknown;
    try {
      // Five digits: a run no log line's timestamp holds (a three-digit one matched `.123Z` one run in a thousand).
      parseInput(tokenizeCardInputSchema, { card: { ...input.card, cvc: REFUSED_CVC } }, ['input'], NOW);
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ code: 'INVALID_CVC' });
    for (const text of [...renderings(careless), ...renderings(refused)]) expect(cardDigitsIn(text, NUMBER, REFUSED_CVC), text).toEqual([]);
    for (const text of renderings(careless)) expect(leaked(text), text).toEqual([]);
  });
});

describe('encrypted field codecs', () => {
  // Rows sealed before the codecs existed hold exactly these plaintexts: they must decode, and new writes
  // must produce the same bytes.
  it('write the plaintext the call sites wrote before, and read it back typed', () => {
    const expiry = { month: 3, year: 2031 };
    expect(encodeField('PaymentMethod', 'cardExpiry', expiry)).toBe(JSON.stringify({ month: 3, year: 2031 }));
    expect(decodeField('CardToken', 'cardExpiry', '{"month":3,"year":2031}')).toEqual(expiry);
    const billing = { address: { line1: 'Main St 1', country: 'SG' }, email: 'a@example.com' };
    expect(encodeField('PaymentMethod', 'billing', billing)).toBe(JSON.stringify(billing));
    expect(decodeField('Customer', 'defaultBillingAddress', JSON.stringify(billing.address))).toEqual(billing.address);
    expect(encodeField('Customer', 'name', 'Ada')).toBe('Ada');
    expect(encodeField('PaymentMethod', 'billing', undefined)).toBeUndefined();
    expect(encodeField('PaymentMethod', 'billing', null)).toBeNull();

    const number = decodeField('NetworkToken', 'number', '4895370000000002');
    expect(number).toBeInstanceOf(Secret);
    expect(JSON.stringify({ number })).toBe('{"number":"[REDACTED]"}');
    expect(encodeField('NetworkToken', 'number', number)).toBe('4895370000000002');
  });

  it("keep a pending card's plaintext byte for byte, the number in its place and revealed only there", () => {
    const parsed = validate(tokenizeCardInputSchema, input, ['input'], { now: NOW });
    if (!parsed.ok) throw new Error('the input should pass');
    const { cvc, ...card } = parsed.value.card!;
    const billing = { email: 'a@example.com' };
    // What payments.ts wrote before: JSON.stringify of the card (its number a string) and the billing.
    const before = JSON.stringify({ card: { ...card, number: NUMBER }, billing });
    const plaintext = encodeField('Payment', 'pendingCard', { card, billing });
    expect(plaintext).toBe(before);
    expect(plaintext).not.toContain(CVC);
    const pending = decodeField('Payment', 'pendingCard', before);
    expect(pending.card.number.reveal()).toBe(NUMBER);
    expect({ ...pending.card, number: NUMBER }).toEqual(JSON.parse(before).card);
    expect(leaked(JSON.stringify(pending))).toEqual([]);
    expect(cvc?.reveal()).toBe(CVC);
  });
});
