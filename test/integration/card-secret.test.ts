// What the domain hands to connectors and token service providers carries the card number and CVC as
// Secrets: a request object or an error built from one, printed, serialised or logged, shows neither.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../../src/app/app.js';
import { createMerchant } from '../../src/domain/merchants/merchants.js';
import { tokenizeCard } from '../../src/domain/paymentMethods/paymentMethods.js';
import { createPayment } from '../../src/domain/payments/payments.js';
import type { Principal } from '../../src/domain/shared/principal.js';
import type { Connector } from '../../src/integrations/connectors/index.js';
import { sandboxConnector } from '../../src/integrations/connectors/sandbox.js';
import type { TokenServiceProvider } from '../../src/integrations/tokenServices/index.js';
import { createTestApp } from '../helpers/db.js';
import { EXP_YEAR } from '../helpers/expiry.js';
import { cardDigitsIn, renderings } from '../helpers/renderings.js';
import { principalOf } from '../helpers/vault.js';

const NUMBER = '371449635398431';
const CVC = '7391';

describe('card data handed to connectors and token service providers', () => {
  let app: App;
  let principal: Principal;
  const requests: unknown[] = [];
  let failing = false;

  beforeAll(async () => {
    const base = await createTestApp(inject('databaseUrl'));
    const recording: Connector = {
      ...sandboxConnector,
      tokenize: (request) => {
        requests.push(request);
        return sandboxConnector.tokenize!(request);
      },
      authorize: async (request) => {
        requests.push(request);
        // A connector that builds its error from the request, as a careless integration would.
        if (failing)
          throw new Error(`PSP refused ${JSON.stringify(request)}: ${request.source.type === 'card' && request.source.card.number}`);
        return sandboxConnector.authorize(request);
      },
    };
    const sandboxTsp = base.tokenServices.sandbox;
    const tsp: TokenServiceProvider = {
      ...sandboxTsp,
      provision: (request) => {
        requests.push(request);
        return sandboxTsp.provision(request);
      },
      cryptogram: (request) => {
        requests.push(request);
        return sandboxTsp.cryptogram(request);
      },
    };
    // Another app with other integrations, as tests swap dependencies.
    app = {
      ...base,
      connectors: { TEST: { byId: new Map([[recording.id, recording]]), defaultId: recording.id }, LIVE: { byId: new Map() } },
      tokenServices: { ...base.tokenServices, byMode: { TEST: new Map([[tsp.id, tsp]]), LIVE: new Map() } },
    };
    const m = await createMerchant(app, { name: 'secret' });
    principal = principalOf(m, { keyId: 'key_secret', requestId: 'req-secret' });
  });
  afterAll(() => app?.stop());

  it('tokenization, payments and their errors show neither the number nor the CVC', async () => {
    const card = { number: NUMBER, expMonth: 12, expYear: EXP_YEAR, cvc: CVC, holderName: 'Ada Lovelace' };
    const { paymentMethod } = await tokenizeCard(app, principal, {
      card,
      pspTokenization: { tokenizationType: 'SINGLE_USE', connectorId: 'sandbox' },
      networkTokenization: { enable: true },
    });
    const options = { baseUrl: 'http://vault.test' };
    await createPayment(app, principal, { amount: 100, currency: 'EUR', card }, options);
    // The stored card pays with its single-use PSP token, then with its network token and a fresh cryptogram.
    for (let i = 0; i < 2; i++)
      await createPayment(app, principal, { amount: 100, currency: 'EUR', paymentMethodId: paymentMethod.id }, options);
    failing = true;
    const error = await createPayment(app, principal, { amount: 100, currency: 'EUR', card }, options).catch((err: unknown) => err);
    failing = false;
    expect(error).toBeInstanceOf(Error);

    const kinds = requests.map((r) => {
      const { card: c, source } = r as { card?: unknown; source?: { type: string }; tokenReferenceId?: string };
      return source?.type ?? (c ? 'card' : 'cryptogram');
    });
    expect(kinds).toEqual(['card', 'card', 'card', 'psp_token', 'cryptogram', 'network_token', 'card']);
    for (const text of [...requests.flatMap(renderings), ...renderings(error)]) expect(cardDigitsIn(text, NUMBER, CVC), text).toEqual([]);
    // The connector still got the card: its wire call reveals it.
    const paid = requests[2] as { source: { card: { number: { reveal(): string }; cvc: { reveal(): string } } } };
    expect(paid.source.card.number.reveal()).toBe(NUMBER);
    expect(paid.source.card.cvc.reveal()).toBe(CVC);
  });
});
