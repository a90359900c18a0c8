import type { App } from '../../app/app.js';
import { findPaymentMethodRow, onPool } from '../../domain/paymentMethods/store.js';
import { Conflict, ConnectorUnavailable, NotFound } from '../../domain/shared/errors.js';
import { findNetworkToken } from '../../domain/paymentMethods/networkTokens.js';
import { parseInput } from '../../domain/shared/inputs.js';
import type { Principal } from '../../domain/shared/principal.js';
import { type SIMULATED_NETWORK_TOKEN_EVENTS, simulateNetworkTokenEventInputSchema } from '../../domain/paymentMethods/inputs.js';
import { SANDBOX_TSP_ID, SIGNATURE_HEADER } from './sandbox.js';
import type { LifecycleEventType } from './types.js';
import { NETWORK_TOKEN_WEBHOOK_PATH } from '../../http/routes/networkTokenWebhook.js';

// Test mode only: makes the sandbox token service provider push a lifecycle event for a payment method's
// network token, over HTTP to the vault's own webhook endpoint, exactly as a real TSP would. Merchants use it
// to see how their integration copes with a suspended or re-issued token.

const TYPE_OF: Record<(typeof SIMULATED_NETWORK_TOKEN_EVENTS)[number], LifecycleEventType> = {
  SUSPEND: 'token.suspended',
  RESUME: 'token.resumed',
  DELETE: 'token.deleted',
  UPDATE_EXPIRY: 'token.updated',
};

export async function simulateNetworkTokenEvent(app: App, principal: Principal, input: unknown, baseUrl = app.urls.local()) {
  const v = parseInput(simulateNetworkTokenEventInputSchema, input, ['input'], app.clock());
  if (principal.mode !== 'TEST') throw new ConnectorUnavailable('Lifecycle events can be simulated in test mode only');
  const pm = await findPaymentMethodRow(onPool(app), principal, v.paymentMethodId);
  if (!pm) throw new NotFound('payment method', v.paymentMethodId);
  const token = await findNetworkToken(app, principal, pm.id);
  if (!token || token.tspId !== SANDBOX_TSP_ID)
    throw new Conflict('The payment method has no network token from the sandbox token service provider');

  const { body, signature } = app.tokenServices.sandbox.signedEvent({
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
  return (await findPaymentMethodRow(onPool(app), principal, pm.id))!;
}
