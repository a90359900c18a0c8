import type { Prisma } from '../generated/prisma/client.js';

/**
 * The one place that says which columns hold ciphertext. The encryption extension seals these on every
 * write; reads return the envelope until a domain read path explicitly opens a field.
 * JSON-valued fields (addresses, billing, expiry) are JSON-encoded strings before sealing.
 */
export const ENCRYPTED_FIELDS = {
  Customer: ['name', 'email', 'phone', 'phoneCountryCode', 'defaultBillingAddress', 'defaultShippingAddress'],
  PaymentMethod: ['cardNumber', 'cardExpiry', 'holderName', 'nickName', 'billing'],
  CardToken: ['cardNumber', 'cardExpiry', 'holderName', 'nickName', 'cvc', 'billing'],
  // redirectUrl carries the challenge secret while a payment awaits its challenge.
  Payment: ['cardExpiry', 'holderName', 'pendingCard', 'redirectUrl'],
  IdempotencyKey: ['response'],
  PspToken: ['token'],
  NetworkToken: ['number', 'expiry'],
} as const satisfies Partial<Record<Prisma.ModelName, readonly string[]>>;

export type EncryptedModel = keyof typeof ENCRYPTED_FIELDS;
export type EncryptedField<M extends EncryptedModel> = (typeof ENCRYPTED_FIELDS)[M][number];

export function encryptedFieldsOf(model: string): readonly string[] | undefined {
  return (ENCRYPTED_FIELDS as Record<string, readonly string[]>)[model];
}
