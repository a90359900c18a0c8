import { z } from 'zod';
import { Conflict, ConnectorUnavailable, NotFound } from '../errors.js';
import { findNetworkToken } from '../domain/networkTokens.js';
import { parseInput } from '../domain/inputs.js';
import { tenant, type Principal } from '../domain/principal.js';
import { db } from '../db/client.js';
import { sandboxTsp } from './index.js';
import { SANDBOX_TSP_ID, SIGNATURE_HEADER } from './sandbox.js';
import type { LifecycleEventType } from './types.js';
import { NETWORK_TOKEN_WEBHOOK_PATH } from './webhook.js';

// Test mode only: makes the sandbox token service provider push a lifecycle event for a payment method's
// network token, over HTTP to the vault's own webhook endpoint, exactly as a real TSP would. Merchants use it
// to see how their integration copes with a suspended or re-issued token.

export const SIMULATED_EVENTS = ['SUSPEND', 'RESUME', 'DELETE', 'UPDATE_EXPIRY'] as const;
export type SimulatedEvent = (typeof SIMULATED_EVENTS)[number];

const TYPE_OF: Record<SimulatedEvent, LifecycleEventType> = {
  SUSPEND: 'token.suspended',
  RESUME: 'token.resumed',
  DELETE: 'token.deleted',
  UPDATE_EXPIRY: 'token.updated',
};

const inputSchema = z
  .object({
    paymentMethodId: z.string().trim().min(1).max(64).refine((s) => !/\p{C}/u.test(s), 'Must contain only printable characters'),
    event: z.enum(SIMULATED_EVENTS),
    expMonth: z.int().min(1).max(12).nullish(),
    expYear: z.int().min(2000).max(2099).nullish(),
  })
  .superRefine((input, ctx) => {
    if (input.event === 'UPDATE_EXPIRY' && (input.expMonth == null || input.expYear == null)) {
      ctx.addIssue({ code: 'custom', path: ['expMonth'], message: 'UPDATE_EXPIRY needs expMonth and expYear (four digits)' });
    }
  });

export async function simulateNetworkTokenEvent(principal: Principal, input: unknown, baseUrl: string) {
  const v = parseInput(inputSchema, input, ['input']);
  if (principal.mode !== 'TEST') throw new ConnectorUnavailable('Lifecycle events can be simulated in test mode only');
  const pm = await db().prisma.paymentMethod.findFirst({ where: { ...tenant(principal), id: v.paymentMethodId }, select: { id: true } });
  if (!pm) throw new NotFound('payment method', v.paymentMethodId);
  const token = await findNetworkToken(principal, pm.id);
  if (!token || token.tspId !== SANDBOX_TSP_ID) throw new Conflict('The payment method has no network token from the sandbox token service provider');

  const { body, signature } = sandboxTsp.signedEvent({
    type: TYPE_OF[v.event],
    tokenReferenceId: token.tokenReferenceId,
    ...(v.event === 'UPDATE_EXPIRY' && { expMonth: v.expMonth!, expYear: v.expYear! }),
  });
  const response = await fetch(`${baseUrl}${NETWORK_TOKEN_WEBHOOK_PATH}${SANDBOX_TSP_ID}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`the sandbox TSP's delivery was answered ${response.status}`);
  return db().prisma.paymentMethod.findFirstOrThrow({ where: { ...tenant(principal), id: pm.id } });
}
