import { createHmac } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { AuditEventsDocument, PaymentMethodTokensDocument, TokenizeCardDocument } from '../../packages/client/src/index.js';
import { parseMasterKeys } from '../../src/crypto/masterKeys.js';
import { createSandboxTsp, SIGNATURE_HEADER } from '../../src/integrations/tokenServices/sandbox.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';
import { newMerchant, success, uniqueVisa, useDatabase } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

// A signed lifecycle event delivered again within its signature window (a TSP retry, or an attacker replaying
// a captured delivery) is answered 200 and changes nothing: it was applied and audited once.

const getDb = useDatabase();
const url = () => `${new URL(inject('graphqlUrl')).origin}/webhooks/network-tokens/sandbox`;
const tsp = createSandboxTsp(() => {
  const ring = parseMasterKeys(TEST_MASTER_KEYS);
  return ring.ids.map((id) => createHmac('sha256', ring.get(id)!.reveal()).update('vault sandbox tsp webhook v1').digest());
});
const deliver = (body: string, signature: string) =>
  fetch(url(), { method: 'POST', headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature }, body });

describe('network token webhook replays', () => {
  it('applies and audits the same signed event once; the replay answers 200 without changes', async () => {
    const m = await newMerchant();
    const tokenized = await m.client.request(TokenizeCardDocument, {
      input: { card: { number: uniqueVisa(), expMonth: 12, expYear: EXP_YEAR }, networkTokenization: { enable: true } },
    });
    const pm = success(tokenized.tokenizeCard, 'TokenizeCardSuccess').paymentMethod;
    const networkToken = async () => (await m.client.request(PaymentMethodTokensDocument, { id: pm.id })).paymentMethod!.networkToken!;
    const audited = async () =>
      (await m.client.request(AuditEventsDocument, { entityId: pm.id, first: 50 })).auditEvents.edges.filter((e) =>
        e.node.action.startsWith('network_token.'),
      );
    const ref = (await networkToken()).tokenReferenceId;

    const suspended = tsp.signedEvent({ type: 'token.suspended', tokenReferenceId: ref });
    expect((await deliver(suspended.body, suspended.signature)).status).toBe(200);
    expect((await networkToken()).status).toBe('SUSPENDED');
    const resumed = tsp.signedEvent({ type: 'token.resumed', tokenReferenceId: ref });
    expect((await deliver(resumed.body, resumed.signature)).status).toBe(200);
    expect((await networkToken()).status).toBe('ACTIVE');
    const before = await getDb().prisma.networkToken.findFirstOrThrow({ where: { merchantId: m.merchantId, paymentMethodId: pm.id } });

    // The suspension again, byte for byte, still inside its window: it must not suspend the resumed token.
    // Twice at once too: the concurrent copies wait on each other's record.
    const replays = await Promise.all([0, 1, 2].map(() => deliver(suspended.body, suspended.signature)));
    expect(replays.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await networkToken()).status).toBe('ACTIVE');
    const after = await getDb().prisma.networkToken.findFirstOrThrow({ where: { merchantId: m.merchantId, paymentMethodId: pm.id } });
    expect(after.updatedAt).toEqual(before.updatedAt);
    expect((await audited()).map((e) => e.node.action).sort()).toEqual(['network_token.resumed', 'network_token.suspended']);

    // A replay of the latest event is not applied (or audited) twice either.
    expect((await deliver(resumed.body, resumed.signature)).status).toBe(200);
    expect(await audited()).toHaveLength(2);
  });
});
