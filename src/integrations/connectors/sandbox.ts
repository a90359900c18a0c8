import { randomBytes } from 'node:crypto';
import { base62 } from '../../domain/shared/ids.js';
import { verifySandboxCryptogram } from '../tokenServices/sandbox.js';
import type { AuthorizeRequest, AuthorizeResult, Connector, TokenizeRequest, TokenizeResult } from './types.js';

export const SANDBOX_CONNECTOR_ID = 'sandbox';

/** The sandbox's 3-D Secure challenge page, served by the vault itself (see sandboxChallenge.ts). */
export const SANDBOX_CHALLENGE_PATH = '/sandbox/challenge/';

function sandboxChallengeUrl(baseUrl: string, paymentId: string, secret: string): string {
  return `${baseUrl}${SANDBOX_CHALLENGE_PATH}${encodeURIComponent(paymentId)}?secret=${encodeURIComponent(secret)}`;
}

/** How the sandbox answers a test card; its PSP tokens remember this, as a real PSP remembers the card. */
type Scenario = 'approve' | 'challenge' | 'declined' | 'insufficient_funds';

/** How the sandbox answers a bank account, by the last four digits of its IBAN or account number. */
const BANK_SCENARIOS: Readonly<Record<string, 'account_closed' | 'insufficient_funds'>> = {
  '0002': 'account_closed',
  '9995': 'insufficient_funds',
};
const BANK_DECLINES = {
  account_closed: { failureCode: 'account_closed', failureMessage: 'The bank account is closed' },
  insufficient_funds: { failureCode: 'insufficient_funds', failureMessage: 'The bank account has insufficient funds' },
} as const;

const SCENARIOS: Readonly<Record<string, Scenario>> = {
  '4000002500003155': 'challenge',
  '4000000000000002': 'declined',
  '4000000000009995': 'insufficient_funds',
};
const DECLINES = {
  declined: { failureCode: 'card_declined', failureMessage: 'The card was declined' },
  insufficient_funds: { failureCode: 'insufficient_funds', failureMessage: 'The card has insufficient funds' },
} as const;

// PSP tokens: `sbxtok_` + one letter for the scenario + 128 random bits. Nothing of the number is in them.
const TOKEN_LETTER: Readonly<Record<Scenario, string>> = { approve: 'a', challenge: 'c', declined: 'd', insufficient_funds: 'i' };
const TOKEN = /^sbxtok_([acdi])[0-9A-Za-z]{22}$/;

const reference = (prefix = 'sbx') => `${prefix}_${base62(randomBytes(16), 22)}`;

function scenarioOf(request: AuthorizeRequest): Scenario | 'unknown_token' | 'invalid_cryptogram' | 'bank_account' {
  const { source } = request;
  switch (source.type) {
    case 'bank_account':
      return 'bank_account';
    case 'card':
      return SCENARIOS[source.card.number.reveal()] ?? 'approve';
    case 'psp_token': {
      const letter = TOKEN.exec(source.token)?.[1];
      const found = (Object.keys(TOKEN_LETTER) as Scenario[]).find((s) => TOKEN_LETTER[s] === letter);
      return found ?? 'unknown_token';
    }
    case 'network_token':
      // The cryptogram authenticates the payment: no challenge.
      return verifySandboxCryptogram(source.networkToken.number.reveal(), source.networkToken.cryptogram)
        ? 'approve'
        : 'invalid_cryptogram';
  }
}

/**
 * The test-mode connector: no money moves, and the card number decides the answer (a bank account's last
 * four digits: 0002 account_closed, 9995 insufficient_funds, any other approved). 4000002500003155 asks
 * for a 3-D Secure challenge when the customer is present; a merchant-initiated payment has nobody to
 * challenge, so it goes through like any other card. It issues PSP tokens (which keep the card's answer)
 * and accepts network tokens with a cryptogram from the sandbox token service provider.
 */
export const sandboxConnector: Connector = {
  id: SANDBOX_CONNECTOR_ID,
  acceptsNetworkTokens: true,

  async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
    const scenario = scenarioOf(request);
    switch (scenario) {
      case 'bank_account': {
        // A debit: no 3-D Secure. The last four digits decide, as the card number does for cards.
        const { source } = request;
        const decline = source.type === 'bank_account' ? BANK_SCENARIOS[source.bankAccount.number.reveal().slice(-4)] : undefined;
        if (decline) return { status: 'FAILED', reference: reference(), ...BANK_DECLINES[decline] };
        break;
      }
      case 'declined':
      case 'insufficient_funds':
        return { status: 'FAILED', reference: reference(), ...DECLINES[scenario] };
      case 'unknown_token':
        return {
          status: 'FAILED',
          reference: reference(),
          failureCode: 'invalid_token',
          failureMessage: 'The connector does not know this token',
        };
      case 'invalid_cryptogram':
        return {
          status: 'FAILED',
          reference: reference(),
          failureCode: 'invalid_cryptogram',
          failureMessage: 'The network token cryptogram is not valid',
        };
      case 'challenge':
        if (request.initiator === 'CUSTOMER') {
          const { baseUrl, secret } = request.challenge;
          return {
            status: 'REQUIRES_ACTION',
            reference: reference(),
            redirectUrl: sandboxChallengeUrl(baseUrl, request.paymentId, secret),
          };
        }
        break;
      case 'approve':
        break;
    }
    return { status: request.captureMethod === 'MANUAL' ? 'AUTHORIZED' : 'COMPLETED', reference: reference() };
  },

  async tokenize({ card, tokenizationType }: TokenizeRequest): Promise<TokenizeResult> {
    const scenario = SCENARIOS[card.number.reveal()] ?? 'approve';
    return {
      token: `sbxtok_${TOKEN_LETTER[scenario]}${base62(randomBytes(16), 22)}`,
      tokenizationType,
      requestReferenceId: reference('sbxreq'),
    };
  },

  async capture() {
    return { status: 'COMPLETED' };
  },

  async cancel() {
    return { status: 'CANCELLED' };
  },
};
