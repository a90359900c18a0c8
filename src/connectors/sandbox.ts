import { randomBytes } from 'node:crypto';
import { base62 } from '../ids.js';
import type { AuthorizeRequest, AuthorizeResult, Connector } from './types.js';

export const SANDBOX_CONNECTOR_ID = 'sandbox';

/** The sandbox's 3-D Secure challenge page, served by the vault itself (see sandboxChallenge.ts). */
export const SANDBOX_CHALLENGE_PATH = '/sandbox/challenge/';

export function sandboxChallengeUrl(baseUrl: string, paymentId: string, secret: string): string {
  return `${baseUrl}${SANDBOX_CHALLENGE_PATH}${encodeURIComponent(paymentId)}?secret=${encodeURIComponent(secret)}`;
}

const DECLINES: Readonly<Record<string, { failureCode: string; failureMessage: string }>> = {
  '4000000000000002': { failureCode: 'card_declined', failureMessage: 'The card was declined' },
  '4000000000009995': { failureCode: 'insufficient_funds', failureMessage: 'The card has insufficient funds' },
};
const CHALLENGE_CARD = '4000002500003155';

const reference = () => `sbx_${base62(randomBytes(16), 22)}`;

/**
 * The test-mode connector: no money moves, and the card number decides the answer. 4000002500003155 asks
 * for a 3-D Secure challenge when the customer is present; a merchant-initiated payment has nobody to
 * challenge, so it goes through like any other card.
 */
export const sandboxConnector: Connector = {
  id: SANDBOX_CONNECTOR_ID,

  async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
    const decline = DECLINES[request.card.number];
    if (decline) return { status: 'FAILED', reference: reference(), ...decline };
    if (request.card.number === CHALLENGE_CARD && request.initiator === 'CUSTOMER') {
      const { baseUrl, secret } = request.challenge;
      return { status: 'REQUIRES_ACTION', reference: reference(), redirectUrl: sandboxChallengeUrl(baseUrl, request.paymentId, secret) };
    }
    return { status: request.captureMethod === 'MANUAL' ? 'AUTHORIZED' : 'COMPLETED', reference: reference() };
  },

  async capture() {
    return { status: 'COMPLETED' };
  },

  async cancel() {
    return { status: 'CANCELLED' };
  },
};
