import { randomInt } from 'node:crypto';
import { luhnValid } from '../../card/number.js';
import { Secret } from '../../crypto/secret.js';
import type { AccountUpdater, UpdaterAnswer, UpdaterInquiry } from './types.js';

const SANDBOX_UPDATER_ID = 'sandbox';

/** The endings the sandbox answers to; a new number it issues never ends so (it would answer again). */
const MAGIC_ENDINGS = ['0051', '0069', '0077'];

/** A Luhn-valid number with the card's first six digits (so the same brand) and length, not the same number. */
function replacementNumber(number: string): string {
  for (;;) {
    let partial = number.slice(0, 6);
    while (partial.length < number.length - 1) partial += String(randomInt(10));
    const candidate = [...'0123456789'].map((d) => partial + d).find(luhnValid)!;
    if (candidate !== number && !MAGIC_ENDINGS.includes(candidate.slice(-4))) return candidate;
  }
}

function answer({ paymentMethodId, card }: UpdaterInquiry): UpdaterAnswer {
  const number = card.number.reveal();
  switch (number.slice(-4)) {
    case '0051':
      return { paymentMethodId, kind: 'NEW_EXPIRY', expMonth: card.expMonth, expYear: card.expYear + 3 };
    case '0069':
      return {
        paymentMethodId,
        kind: 'NEW_NUMBER',
        number: new Secret(replacementNumber(number)),
        expMonth: card.expMonth,
        expYear: card.expYear,
      };
    case '0077':
      return { paymentMethodId, kind: 'CLOSED' };
    default:
      return { paymentMethodId, kind: 'NO_CHANGE' };
  }
}

/**
 * The test-mode updater, answering by the card number's last four digits: 0051 a new expiry three years on,
 * 0069 a new number (same first six digits, so the same brand, and length), 0077 a closed account, anything
 * else no change. It keeps no state: the vault asks about a card once (PaymentMethod.updaterCheckedAt).
 */
export function createSandboxUpdater(): AccountUpdater {
  return {
    id: SANDBOX_UPDATER_ID,
    async inquire(inquiries) {
      return inquiries.map(answer);
    },
  };
}
