import type { App } from '../../app/app.js';
import type { Tx } from '../../db/client.js';
import type { Mode } from '../../generated/prisma/client.js';
import type { UpdaterAnswer } from '../../integrations/updaters/index.js';
import { actorOf, appendAudit } from '../audit/audit.js';
import { ValidationFailed } from '../shared/errors.js';
import { cardInputSchema } from '../shared/inputSchemas.js';
import { parseInput } from '../shared/inputs.js';
import type { Principal } from '../shared/principal.js';
import { openCard } from './reveal.js';
import { updatePaymentMethodInputSchema } from './inputs.js';
import { cardFingerprint } from './paymentMethods.js';
import { retainUntil } from './retention.js';
import { emitEvent } from '../webhooks/events.js';
import { emitPaymentMethod } from '../webhooks/webhooks.js';
import {
  applyUpdaterChanges,
  deletePaymentMethodRow,
  findDuplicateRow,
  findPaymentMethodRow,
  inTransaction,
  lockUnchecked,
  updaterPendingPage,
} from './store.js';

// The account updater: asks the card networks' updater (app.updaters, the sandbox in test mode) about every
// stored card it has not asked about yet, merchant by merchant in batches, and applies each answer in a
// transaction of its own with its audit event, marking the card asked (updaterCheckedAt). A run that stops
// midway resumes where it stopped: asked cards are not asked again, an answer applied is never applied twice
// (the card is locked and must still be unasked). A card is asked once.
//
// Answers:
// - NEW_EXPIRY: the new expiry replaces the stored one (re-encrypted; retention follows it); updaterStatus UPDATED.
// - NEW_NUMBER: the new number replaces the stored one (validated as tokenizeCard validates a card,
//   re-encrypted, fingerprint recomputed); updaterStatus UPDATED. When the same customer (or, without one,
//   the merchant's customerless cards) holds the new number already, the card is MERGED into that payment
//   method: it takes the new expiry and updaterStatus UPDATED, and the old payment method is deleted
//   (audited with `mergedInto`) — one payment method per card per customer, as tokenizeCard keeps it.
// - CLOSED: nothing changes but updaterStatus CLOSED (the merchant should ask the customer for a new card).
// - NO_CHANGE: only marked asked.

export interface UpdaterRunResult {
  checked: number;
  updated: number;
  merged: number;
  closed: number;
  unchanged: number;
  /** Answers that could not be applied (e.g. a new expiry in the past): marked asked, audited as failed. */
  failed: number;
}

export interface UpdaterRunOptions {
  merchantId?: string;
  batchSize?: number;
  onProgress?: (checked: number) => void;
}

/**
 * The updater's webhook events, in its transaction: `payment_method.updated` with the payment method as it is
 * now (reason "account_updater"), or `payment_method.deleted` for one merged into another.
 */
async function emitUpdated(
  app: App,
  tx: Tx,
  principal: Principal,
  type: 'payment_method.updated' | 'payment_method.deleted',
  paymentMethodId: string,
  reason: 'account_updater',
) {
  if (type === 'payment_method.deleted') {
    await emitEvent(tx, principal, type, { id: paymentMethodId, type: 'CARD', deleted: true }, reason);
    return;
  }
  const pm = await findPaymentMethodRow(inTransaction(tx), principal, paymentMethodId);
  if (pm) await emitPaymentMethod(app, tx, principal, type, pm, reason);
}

type Outcome = 'updated' | 'merged' | 'closed' | 'unchanged' | 'failed' | 'skipped';

async function applyAnswer(app: App, principal: Principal, answer: UpdaterAnswer): Promise<Outcome> {
  const now = app.clock();
  const id = answer.paymentMethodId;
  const audit = (tx: Tx, outcome: 'success' | 'failed', detail: Record<string, string | number | boolean | null>, entityId = id) =>
    appendAudit(tx, actorOf(principal), {
      action: 'payment_method.account_updater',
      entityType: 'payment_method',
      entityId,
      outcome,
      detail,
    });
  // Validated and fingerprinted outside the transaction (as tokenizeCard does), applied inside.
  let newCard: ReturnType<typeof parseCard> | undefined;
  let fingerprint: string | undefined;
  let invalid: ValidationFailed | undefined;
  if (answer.kind === 'NEW_NUMBER' || answer.kind === 'NEW_EXPIRY') {
    try {
      if (answer.kind === 'NEW_NUMBER') {
        newCard = parseCard(app, { number: answer.number.reveal(), expMonth: answer.expMonth, expYear: answer.expYear });
        fingerprint = await cardFingerprint(app, principal, newCard.number);
      } else {
        // The expiry rules of updatePaymentMethod (a past expiry is refused).
        parseInput(updatePaymentMethodInputSchema, { expMonth: answer.expMonth, expYear: answer.expYear }, ['input'], now);
      }
    } catch (err) {
      if (!(err instanceof ValidationFailed)) throw err;
      invalid = err;
    }
  }
  return app.db.prisma.$transaction(async (tx) => {
    const locked = await lockUnchecked(tx, principal, id);
    if (!locked) return 'skipped';
    if (invalid) {
      await applyUpdaterChanges(tx, principal, id, { checkedAt: now });
      await audit(tx, 'failed', { result: answer.kind.toLowerCase(), code: invalid.code });
      return 'failed';
    }
    switch (answer.kind) {
      case 'NO_CHANGE':
        await applyUpdaterChanges(tx, principal, id, { checkedAt: now });
        return 'unchanged';
      case 'CLOSED':
        await applyUpdaterChanges(tx, principal, id, { checkedAt: now, status: 'CLOSED' });
        await audit(tx, 'success', { result: 'closed' });
        await emitUpdated(app, tx, principal, 'payment_method.updated', id, 'account_updater');
        return 'closed';
      case 'NEW_EXPIRY': {
        const expiry = {
          month: answer.expMonth,
          year: answer.expYear,
          retainUntil: retainUntil(answer.expMonth, answer.expYear, locked.retentionExtensionMonths),
        };
        await applyUpdaterChanges(tx, principal, id, { checkedAt: now, status: 'UPDATED', expiry });
        await audit(tx, 'success', { result: 'new_expiry' });
        await emitUpdated(app, tx, principal, 'payment_method.updated', id, 'account_updater');
        return 'updated';
      }
      case 'NEW_NUMBER': {
        const card = newCard!;
        const existing = await findDuplicateRow(inTransaction(tx), principal, locked.customerId, fingerprint!);
        const expiry = (months: number) => ({
          month: card.expMonth,
          year: card.expYear,
          retainUntil: retainUntil(card.expMonth, card.expYear, months),
        });
        if (existing && existing.id !== id) {
          // Merged into the payment method holding the new number already.
          await applyUpdaterChanges(tx, principal, existing.id, {
            checkedAt: now,
            status: 'UPDATED',
            expiry: expiry(existing.retentionExtensionMonths),
          });
          await deletePaymentMethodRow(tx, principal, id);
          await audit(tx, 'success', { result: 'new_number', mergedInto: existing.id });
          await emitUpdated(app, tx, principal, 'payment_method.updated', existing.id, 'account_updater');
          await emitUpdated(app, tx, principal, 'payment_method.deleted', id, 'account_updater');
          return 'merged';
        }
        await applyUpdaterChanges(tx, principal, id, {
          checkedAt: now,
          status: 'UPDATED',
          card,
          fingerprint,
          expiry: expiry(locked.retentionExtensionMonths),
        });
        await audit(tx, 'success', { result: 'new_number' });
        await emitUpdated(app, tx, principal, 'payment_method.updated', id, 'account_updater');
        return 'updated';
      }
    }
  });
}

function parseCard(app: App, card: { number: string; expMonth: number; expYear: number }) {
  return parseInput(cardInputSchema, card, ['card'], app.clock());
}

/** Asks the updater of each mode that has one about every card not asked yet (of one merchant, or all). */
export async function runAccountUpdater(app: App, opts: UpdaterRunOptions = {}): Promise<UpdaterRunResult> {
  const batchSize = opts.batchSize ?? 200;
  const modes = (Object.keys(app.updaters) as Mode[]).filter((m) => app.updaters[m] !== undefined);
  const result: UpdaterRunResult = { checked: 0, updated: 0, merged: 0, closed: 0, unchanged: 0, failed: 0 };
  const requestId = `updater-${app.clock().toISOString()}`;
  let after: { merchantId: string; id: string } | null = null;
  for (;;) {
    const page = await updaterPendingPage(app.db.prisma, modes, opts.merchantId, after, batchSize);
    if (page.length === 0) return result;
    after = { merchantId: page.at(-1)!.merchantId, id: page.at(-1)!.id };
    // One inquiry per merchant, mode and profile within the page: a tenant's cards go to its updater together,
    // and each answer is applied in the card's own profile (a duplicate is looked for there, never across).
    const groups = new Map<string, typeof page>();
    for (const pm of page) {
      const key = `${pm.merchantId}\u0000${pm.mode}\u0000${pm.profileId}`;
      groups.set(key, [...(groups.get(key) ?? []), pm]);
    }
    for (const group of groups.values()) {
      const { merchantId, mode, profileId } = group[0]!;
      const updater = app.updaters[mode]!;
      const principal: Principal = {
        merchantId,
        mode,
        keyId: 'system:account_updater',
        kind: 'SECRET',
        allowReveal: false,
        requestId,
        profileId,
        profileScope: profileId,
      };
      const inquiries = await Promise.all(
        group.map(async (pm) => {
          const card = await openCard(app, pm);
          return {
            paymentMethodId: pm.id,
            card: { number: card.number, expMonth: card.expMonth, expYear: card.expYear, brand: pm.brand! },
          };
        }),
      );
      const answers = await updater.inquire(inquiries);
      for (const answer of answers) {
        const outcome = await applyAnswer(app, principal, answer);
        if (outcome === 'skipped') continue;
        result.checked++;
        result[outcome]++;
      }
    }
    opts.onProgress?.(result.checked);
  }
}
