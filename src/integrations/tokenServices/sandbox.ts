import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { TokenizationFailed } from '../../domain/shared/errors.js';
import type { CardBrand } from '../../generated/prisma/enums.js';
import { base62, newId } from '../../domain/shared/ids.js';
import { luhnValid } from '../../card/number.js';
import { Secret } from '../../crypto/secret.js';
import type { Cryptogram, CryptogramRequest, LifecycleEvent, ProvisionRequest, ProvisionedToken, TokenServiceProvider } from './types.js';

export const SANDBOX_TSP_ID = 'sandbox';
export const SIGNATURE_HEADER = 'vault-tsp-signature';
/** Deliveries older than this (by their signed timestamp) are refused: replays of captured webhooks. */
const SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000;

// Cryptograms are verified by the sandbox connector in any process, so their key is fixed: it protects
// nothing but test-mode payments that move no money.
const CRYPTOGRAM_KEY = Buffer.from('vault sandbox token service cryptogram key v1');

/** Token ranges per network: the prefix and length of the token numbers the sandbox issues. */
const TOKEN_RANGES: Partial<Record<CardBrand, { prefix: string; length: number }>> = {
  VISA: { prefix: '489537', length: 16 },
  MASTERCARD: { prefix: '522182', length: 16 },
  AMEX: { prefix: '374245', length: 15 },
  DISCOVER: { prefix: '601100', length: 16 },
};

function tokenNumber(brand: CardBrand, avoidLast4: string): string {
  const range = TOKEN_RANGES[brand];
  if (!range) {
    throw new TokenizationFailed(
      `The card network (${brand}) does not offer network tokens in the sandbox; it supports VISA, MASTERCARD, AMEX and DISCOVER`,
    );
  }
  for (;;) {
    let partial = range.prefix;
    while (partial.length < range.length - 1) partial += String(randomInt(10));
    const number = [...'0123456789'].map((d) => partial + d).find(luhnValid)!;
    if (number.slice(-4) !== avoidLast4) return number;
  }
}

function cryptogramMac(number: string, nonce: Buffer): Buffer {
  return createHmac('sha256', CRYPTOGRAM_KEY).update(number).update(nonce).digest().subarray(0, 12);
}

/** Whether a cryptogram was made by the sandbox TSP for this token number (the sandbox connector checks). */
export function verifySandboxCryptogram(number: string, cryptogram: string): boolean {
  const raw = Buffer.from(cryptogram, 'base64');
  if (raw.length !== 20) return false;
  return timingSafeEqual(raw.subarray(8), cryptogramMac(number, raw.subarray(0, 8)));
}

/** HMAC-SHA256 over `${t}.${body}`, as `t=<unix seconds>,v1=<hex>`. */
function signWebhook(secret: Buffer, body: string, now: Date): string {
  const t = Math.floor(now.getTime() / 1000);
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

function signatureValid(secrets: readonly Buffer[], body: string, header: string | null, now: Date): boolean {
  const parts = Object.fromEntries((header ?? '').split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.t);
  const given = /^[0-9a-f]{64}$/.test(parts.v1 ?? '') ? Buffer.from(parts.v1!, 'hex') : undefined;
  if (!given || !Number.isInteger(t) || Math.abs(now.getTime() - t * 1000) > SIGNATURE_TOLERANCE_MS) return false;
  return secrets.some((secret) => timingSafeEqual(createHmac('sha256', secret).update(`${t}.${body}`).digest(), given));
}

const EVENT_TYPES = new Set(['token.suspended', 'token.resumed', 'token.deleted', 'token.updated']);

function parseEvent(body: string): LifecycleEvent | null {
  let e: Partial<LifecycleEvent>;
  try {
    e = JSON.parse(body) as Partial<LifecycleEvent>;
  } catch {
    return null;
  }
  const ok =
    typeof e === 'object' &&
    e !== null &&
    typeof e.id === 'string' &&
    e.id.length <= 64 &&
    typeof e.type === 'string' &&
    EVENT_TYPES.has(e.type) &&
    typeof e.tokenReferenceId === 'string' &&
    e.tokenReferenceId.length <= 64 &&
    typeof e.occurredAt === 'string' &&
    !Number.isNaN(Date.parse(e.occurredAt)) &&
    (e.expMonth === undefined || (Number.isInteger(e.expMonth) && e.expMonth >= 1 && e.expMonth <= 12)) &&
    (e.expYear === undefined || (Number.isInteger(e.expYear) && e.expYear >= 2000 && e.expYear <= 2099)) &&
    (e.last4 === undefined || (typeof e.last4 === 'string' && /^\d{4}$/.test(e.last4))) &&
    (e.type !== 'token.updated' || (e.expMonth !== undefined && e.expYear !== undefined));
  return ok ? (e as LifecycleEvent) : null;
}

/**
 * The test-mode token service provider. It issues network tokens with their own number (in a token range of
 * the card's network), expiry (three years out) and last4, and a fresh 20-byte cryptogram per payment. Its
 * lifecycle events are signed with a secret derived from the vault's master keys (`webhookSecrets`: the
 * first signs, all verify, so a master-key rotation does not break deliveries in flight).
 */
export function createSandboxTsp(
  webhookSecrets: () => readonly Buffer[],
  clock: () => Date = () => new Date(),
): TokenServiceProvider & {
  /** The body and signature header of a lifecycle event, as the sandbox would deliver it. */
  signedEvent(event: Omit<LifecycleEvent, 'id' | 'occurredAt'>, now?: Date): { body: string; signature: string };
} {
  return {
    id: SANDBOX_TSP_ID,

    async provision({ card }: ProvisionRequest): Promise<ProvisionedToken> {
      const now = clock();
      const number = tokenNumber(card.brand, card.number.reveal().slice(-4));
      return {
        tokenReferenceId: `sbxntr_${base62(randomBytes(16), 22)}`,
        number: new Secret(number),
        last4: number.slice(-4),
        expMonth: now.getUTCMonth() + 1,
        expYear: now.getUTCFullYear() + 3,
      };
    },

    async cryptogram({ number }: CryptogramRequest): Promise<Cryptogram> {
      const nonce = randomBytes(8);
      return { cryptogram: Buffer.concat([nonce, cryptogramMac(number.reveal(), nonce)]).toString('base64'), eci: '07' };
    },

    verifyWebhook(body, headers, now = clock()) {
      if (!signatureValid(webhookSecrets(), body, headers.get(SIGNATURE_HEADER), now)) return { ok: false, problem: 'signature' };
      const event = parseEvent(body);
      return event ? { ok: true, event } : { ok: false, problem: 'body' };
    },

    signedEvent(event, now = clock()) {
      const body = JSON.stringify({ id: newId('evt'), occurredAt: now.toISOString(), ...event } satisfies LifecycleEvent);
      const [secret] = webhookSecrets();
      if (!secret) throw new Error('sandbox TSP: no webhook secret');
      return { body, signature: signWebhook(secret, body, now) };
    },
  };
}
