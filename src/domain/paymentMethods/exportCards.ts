import { defaultProfileOf } from '../merchants/profiles.js';
import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import type { App } from '../../app/app.js';
import { actorOf, appendAudit } from '../audit/audit.js';
import { openCard } from './reveal.js';
import type { Principal } from '../shared/principal.js';
import { encryptTo, keyFingerprint, readPublicKey } from '../../crypto/openpgp.js';
import { exportPage } from './store.js';

// Export: every card of a merchant's mode, as JSONL encrypted to one OpenPGP recipient (the merchant's next
// vault or PSP). Streamed: a page of rows at a time is opened and encrypted into the file; the plaintext is
// never written anywhere. The file appears under its name only once complete.

export interface ExportOptions {
  merchantId: string;
  mode: Principal['mode'];
  /** The recipient's OpenPGP public key file. */
  recipient: string;
  out: string;
  armor?: boolean;
  pageSize?: number;
  onProgress?: (cards: number) => void;
}

export async function exportCards(app: App, opts: ExportOptions): Promise<{ cards: number; recipientFingerprint: string }> {
  // The merchant's default profile, where the operator acts; NotFound for an unknown merchant.
  const profileId = await defaultProfileOf(app, opts.merchantId);
  const key = await readPublicKey(opts.recipient);
  const recipientFingerprint = keyFingerprint(key);
  const tenant = { merchantId: opts.merchantId, mode: opts.mode };
  const principal: Principal = {
    ...tenant,
    keyId: 'system:export',
    kind: 'SECRET',
    allowReveal: false,
    requestId: `export-${Date.now()}`,
    profileId,
  };
  const pageSize = opts.pageSize ?? 500;
  let cards = 0;
  async function* lines(): AsyncGenerator<string> {
    let after: string | null = null;
    for (;;) {
      const page = await exportPage(app, tenant, after, pageSize);
      let text = '';
      for (const pm of page) {
        const card = await openCard(app, pm);
        text += `${JSON.stringify({
          id: pm.id,
          card_number: card.number.reveal(),
          exp_month: card.expMonth,
          exp_year: card.expYear,
          holder_name: card.holderName,
          customer_reference: pm.customer?.merchantReferenceId ?? null,
        })}\n`;
      }
      cards += page.length;
      opts.onProgress?.(cards);
      if (text) yield text;
      if (page.length < pageSize) return;
      after = page.at(-1)!.id;
    }
  }
  const partial = `${opts.out}.partial`;
  await encryptTo(key, lines(), createWriteStream(partial, { mode: 0o600 }), opts.armor ?? false);
  await rename(partial, opts.out);
  await appendAudit(app.db.prisma, actorOf(principal), {
    action: 'payment_method.export',
    entityType: 'export',
    entityId: recipientFingerprint,
    outcome: 'success',
    detail: { cards, recipientFingerprint },
  });
  return { cards, recipientFingerprint };
}
