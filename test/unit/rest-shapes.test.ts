import { describe, expect, it } from 'vitest';
import { fieldNamer, toInt } from '../../src/http/routes/rest/shapes.js';

describe('REST field names for domain input paths', () => {
  const name = fieldNamer({ card: 'payment_method_data.card', 'card.number': 'payment_method_data.card.card_number' });

  it('renames by the longest prefix, snake-cases the rest', () => {
    expect(name(['input', 'card', 'number'])).toBe('payment_method_data.card.card_number');
    expect(name(['input', 'card', 'expMonth'])).toBe('payment_method_data.card.exp_month');
    expect(name(['input', 'card'])).toBe('payment_method_data.card');
    expect(name(['input', 'billing', 'address', 'firstName'])).toBe('billing.address.first_name');
    expect(name(['input', 'connectorTokenDetails', 'connectorTokenRequestReferenceId'])).toBe(
      'connector_token_details.connector_token_request_reference_id',
    );
    expect(name(['input'])).toBe('(body)');
  });

  it('keeps metadata keys as the caller wrote them, masking a card number in one', () => {
    expect(name(['input', 'metadata', 'orderId'])).toBe('metadata.orderId');
    expect(name(['input', 'metadata', '4242424242424242'])).not.toContain('4242424242424242');
  });
});

describe('toInt', () => {
  it('reads digit strings as numbers and leaves anything else to the domain', () => {
    expect(toInt('10')).toBe(10);
    expect(toInt('2030')).toBe(2030);
    expect(toInt(7)).toBe(7);
    expect(toInt('1O')).toBe('1O');
    expect(toInt('')).toBe('');
    expect(toInt(null)).toBeNull();
  });
});
