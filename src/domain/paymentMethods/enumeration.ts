import type { App } from '../../app/app.js';
import { probeTags } from '../../crypto/fingerprint.js';
import type { Secret } from '../../crypto/secret.js';
import { deleteExpiredProbes, probeCard } from './store.js';
import { TooManyAttempts } from '../shared/errors.js';
import { actorOf, appendAudit } from '../audit/audit.js';
import type { Principal } from '../shared/principal.js';

// Enumeration limit (PCI DSS 3.5.1.1: a truncation and a hash of one PAN must not be correlatable into the
// PAN). A payment method shows its bin, last four and fingerprint; tokenizing a candidate number shows the
// candidate's fingerprint and whether it is a duplicate. Only ~10^5 Luhn-valid 16-digit numbers share a bin
// and last four, so without a limit a secret key without reveal permission recovers a stored card in
// minutes. Every path that answers with a fingerprint or a duplicate flag for a number the caller chose
// (tokenizeCard with a card or a token, createPayment with savePaymentMethod, tokenizeBankAccount) asks
// `checkEnumeration` first, which counts per api key and window:
//   - the distinct numbers sharing one (bin, last4): recovering a card needs many, a merchant rarely sees two;
//   - the distinct stored cards hit as duplicates: re-saving a customer's card is normal and counts once.
// Past either threshold the request is refused (TOO_MANY_ATTEMPTS) before anything is stored or paid, and
// audited. The counters live in Postgres (shared by every process) as keyed tags only: see PROBE_CARD in store.ts.

export interface ProbedCard {
  number: Secret<string>;
  bin: string;
  last4: string;
}

/**
 * A bank account as the enumeration limit counts it: its bank code (with the scheme) stands for a card's bin,
 * its normalised identity for the number. An account shows its bank code and last four as a card shows its
 * bin and last four, and a BACS account has only four unknown digits then.
 */
export interface ProbedBankAccount {
  scheme: string;
  identity: Secret<string>;
  bankCode: string | null;
  country: string;
  last4: string;
}

/**
 * Counts this tokenization against the key's enumeration limits and refuses it (audited) past one. One
 * statement; `fingerprint` is the card's fingerprint in the principal's mode, as the save will use it.
 */
export async function checkEnumeration(
  app: App,
  principal: Principal,
  probed: ProbedCard | ProbedBankAccount,
  fingerprint: string,
  customerId: string | null,
  now = app.clock(),
): Promise<void> {
  const isCard = 'bin' in probed;
  const card: ProbedCard = isCard
    ? probed
    : { number: probed.identity, bin: `${probed.scheme}:${probed.bankCode ?? probed.country}`, last4: probed.last4 };
  const {
    VAULT_ENUMERATION_MAX_NUMBERS: maxNumbers,
    VAULT_ENUMERATION_MAX_DUPLICATES: maxDuplicates,
    VAULT_ENUMERATION_WINDOW_SECONDS: window,
  } = app.config;
  if (maxNumbers === 0 && maxDuplicates === 0) return;
  const key = (await app.db.keyring.fingerprintKey(principal.merchantId, principal.mode)).reveal();
  const verdict = await probeCard(app, principal, fingerprint, customerId, {
    byBin: probeTags(key, ['bin-last4', principal.keyId, card.bin, card.last4], card.number),
    byHit: probeTags(key, ['duplicates', principal.keyId], card.number),
    keyId: principal.keyId,
    now,
    expiresAt: new Date(now.getTime() + window * 1000),
    maxNumbers,
    maxDuplicates,
  });
  if (verdict?.numbersOk !== false && verdict?.duplicatesOk !== false) return;
  const signal = verdict.numbersOk ? 'DUPLICATES' : 'BIN_LAST4';
  await appendAudit(app.db.prisma, actorOf(principal), {
    action: 'card.enumeration_suspected',
    entityType: 'api_key',
    entityId: principal.keyId,
    outcome: 'refused',
    // Never the card's digits (not even its bin and last four): the threshold that was passed is enough.
    detail: {
      signal,
      threshold: signal === 'BIN_LAST4' ? maxNumbers : maxDuplicates,
      windowSeconds: window,
      ...(!isCard && { type: 'BANK_ACCOUNT' }),
    },
  });
  throw new TooManyAttempts(signal, isCard ? 'card' : 'bank account');
}

/** Deletes counters past their window. */
export async function sweepCardProbes(app: App, now = app.clock()): Promise<number> {
  return deleteExpiredProbes(app, now);
}
