import type { App } from '../../app/app.js';
import { openField } from '../../db/encryption.js';
import { Conflict, Forbidden, NotFound, ValidationFailed, type FieldError } from '../shared/errors.js';
import { sendUpstream } from './http.js';
import { isWellFormedId } from '../shared/ids.js';
import { maskCardData } from '../../card/mask.js';
import type { Secret } from '../../crypto/secret.js';
import { encoderFor, placeholdersIn, render, revealed, type Placeholder, type PlaceholderValues } from './template.js';
import { tspFor } from '../../integrations/tokenServices/index.js';
import { forwardRequestInputSchema, type ForwardRequestInput } from './inputs.js';
import { actorOf, appendAudit } from '../audit/audit.js';
import { consumeCardToken, findCardToken } from '../cardTokens/cardTokens.js';
import { entriesAllowing, forwardHosts } from '../merchants/allowLists.js';
import { parseInput } from '../shared/inputs.js';
import { usableNetworkToken } from '../paymentMethods/networkTokens.js';
import { openStoredCard } from '../paymentMethods/reveal.js';
import type { Principal } from '../shared/principal.js';

// forwardRequest: the vault sends an HTTP request to a host on the merchant's list with the card filled in
// where the placeholders are, and returns the answer with card data masked. This is how a merchant pays
// through any provider without card data touching its own systems. Every forward is audited before the
// card leaves the vault.

export interface ForwardResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const MAX_REDIRECTS = 3;
// The body comes back decoded and whole: its transfer framing and compression no longer apply.
const NOT_RETURNED_HEADERS = new Set(['content-encoding', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);
const pad2 = (n: number) => String(n).padStart(2, '0');

export async function forwardRequest(app: App, principal: Principal, input: unknown, now = app.clock()): Promise<ForwardResult> {
  const v = parseInput(forwardRequestInputSchema, input, ['input'], now);
  const used = usedPlaceholders(v);
  // Ids are audited below: one that is not well-formed (a card number pasted in, say) finds nothing and is not written anywhere.
  if (v.paymentMethodId ? !isWellFormedId('pm', v.paymentMethodId) : !isWellFormedId('tok', v.token!)) {
    throw v.paymentMethodId ? new NotFound('payment method', v.paymentMethodId) : new NotFound('card token', v.token!);
  }
  const url = new URL(v.url);
  const entity = v.paymentMethodId
    ? { entityType: 'payment_method', entityId: v.paymentMethodId, action: 'payment_method.forward' }
    : { entityType: 'card_token', entityId: v.token!, action: 'card_token.forward' };
  const actor = actorOf(principal);
  const detail = { host: url.host, method: v.method };

  if (url.protocol === 'http:' && principal.mode === 'LIVE') {
    throw ValidationFailed.single(['input', 'url'], 'INVALID_INPUT', 'Live keys forward card data over https only');
  }
  const allowed = await forwardHosts.entries(app, principal.merchantId);
  const mayReceive = (target: URL) =>
    entriesAllowing(target).some((h) => allowed.has(h)) && (target.protocol === 'https:' || principal.mode === 'TEST');
  if (!mayReceive(url)) {
    await appendAudit(app.db.prisma, actor, { ...entity, outcome: 'denied', detail });
    throw new Forbidden(
      `This host is not on the merchant's forwarding list (npx vault merchant allow-host --merchant ${principal.merchantId} --host ${url.host})`,
    );
  }

  // Headers are rendered and checked before the token is spent or anything is audited: a value HTTP cannot
  // carry would fail in fetch after the audit said the card was sent.
  if (v.token) renderHeaders(v.headers, await tokenPreview(app, principal, v.token, used));
  const values = v.paymentMethodId
    ? await storedCardValues(app, principal, v.paymentMethodId, used, now)
    : await tokenValues(app, principal, v.token!, used, now);
  const headers = renderHeaders(v.headers, values);
  await appendAudit(app.db.prisma, actor, { ...entity, outcome: 'success', detail });

  const encode = encoderFor(Object.entries(v.headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1]);
  const { VAULT_FORWARD_TIMEOUT_MS, VAULT_FORWARD_MAX_RESPONSE_BYTES } = app.config;
  const response = await sendUpstream(
    { url, method: v.method, headers, body: v.body === undefined ? undefined : render(v.body, values, encode) },
    {
      timeoutMs: VAULT_FORWARD_TIMEOUT_MS,
      maxResponseBytes: VAULT_FORWARD_MAX_RESPONSE_BYTES,
      maxRedirects: MAX_REDIRECTS,
      // A redirect is followed only to a host that may receive the card too; any other comes back as is.
      mayFollow: mayReceive,
    },
  );
  // Everything secret the vault filled in is masked in the answer, whatever field or encoding echoes it.
  const secrets = SECRET_PLACEHOLDERS.flatMap((p) => {
    const value = values[p];
    return value === undefined ? [] : [revealed(value)];
  }).filter((s) => s !== '');
  return {
    status: response.status,
    headers: Object.fromEntries(
      Object.entries(response.headers)
        .filter(([name]) => !NOT_RETURNED_HEADERS.has(name))
        .map(([name, value]) => [name, maskCardData(value, secrets)]),
    ),
    body: maskCardData(response.body, secrets),
  };
}

const SECRET_PLACEHOLDERS = [
  'card.number',
  'card.cvc',
  'networkToken.number',
  'networkToken.cryptogram',
] as const satisfies readonly Placeholder[];
// What fetch accepts in a header value (a ByteString without line breaks).
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The headers with placeholders filled in; refused if a value cannot be sent as an HTTP header. */
function renderHeaders(headers: Record<string, string>, values: PlaceholderValues): Record<string, string> {
  const problems: FieldError[] = [];
  const rendered = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => {
      const text = render(value, values, (s) => s);
      if (!HEADER_VALUE.test(text)) {
        problems.push({
          path: ['input', 'headers', name],
          code: 'INVALID_INPUT',
          message: 'Header values must be Latin-1 text once the placeholders are filled in',
        });
      }
      return [name, text];
    }),
  );
  if (problems.length > 0) throw new ValidationFailed(problems);
  return rendered;
}

/**
 * What a card token's placeholders will render to, as far as a header can tell, without spending it: only
 * the holder name can hold characters a header cannot; every other value is ASCII.
 */
async function tokenPreview(app: App, principal: Principal, id: string, used: Set<Placeholder>): Promise<PlaceholderValues> {
  const values: PlaceholderValues = Object.fromEntries([...used].map((p) => [p, '0']));
  if (used.has('card.holderName')) {
    const token = await findCardToken(app, principal, id);
    values['card.holderName'] = token ? ((await openField(app.db.keyring, 'CardToken', 'holderName', token)) ?? '') : '';
  }
  return values;
}

/** Every placeholder the headers and body use; unknown names under card. or networkToken. are refused. */
function usedPlaceholders(v: ForwardRequestInput): Set<Placeholder> {
  const used = new Set<Placeholder>();
  const problems: FieldError[] = [];
  const scan = (text: string, path: string[]) => {
    const { known, unknown, cvcGlued } = placeholdersIn(text);
    for (const name of known) used.add(name);
    if (cvcGlued) {
      problems.push({
        path,
        code: 'INVALID_INPUT',
        message:
          '{{card.cvc}} must not stand right next to a digit or another placeholder: an upstream echoing it would return it inside a longer number, where it cannot be masked',
      });
    }
    if (unknown.size > 0) {
      problems.push({
        path,
        code: 'INVALID_INPUT',
        message: `Unknown placeholder(s): ${[...unknown].map((n) => `{{${n.slice(0, 40)}}}`).join(', ')}`,
      });
    }
  };
  for (const [name, value] of Object.entries(v.headers)) scan(value, ['input', 'headers', name]);
  if (v.body !== undefined) scan(v.body, ['input', 'body']);
  if (v.paymentMethodId && used.has('card.cvc')) {
    problems.push({
      path: ['input', 'body'],
      code: 'INVALID_INPUT',
      message: '{{card.cvc}} needs a card token: the CVC is never stored with a payment method',
    });
  }
  if (v.token && [...used].some((p) => p.startsWith('networkToken.'))) {
    problems.push({
      path: ['input', 'body'],
      code: 'INVALID_INPUT',
      message: '{{networkToken.*}} needs a payment method with a network token',
    });
  }
  if (problems.length > 0) throw new ValidationFailed(problems);
  return used;
}

function cardValues(card: {
  number: Secret<string>;
  expMonth: number;
  expYear: number;
  holderName?: string | null;
  cvc?: Secret<string> | null;
}): PlaceholderValues {
  return {
    'card.number': card.number,
    'card.expMonth': pad2(card.expMonth),
    'card.expYear': String(card.expYear),
    'card.holderName': card.holderName ?? '',
    ...(card.cvc ? { 'card.cvc': card.cvc } : {}),
  };
}

async function storedCardValues(app: App, principal: Principal, id: string, used: Set<Placeholder>, now: Date): Promise<PlaceholderValues> {
  const card = await openStoredCard(app, principal, id, ['input', 'paymentMethodId'], 'forwarded');
  if (!card) throw new NotFound('payment method', id);
  const values = cardValues(card);
  if ([...used].some((p) => p.startsWith('networkToken.'))) {
    const nt = await usableNetworkToken(app, principal, id, now);
    if (!nt) throw new Conflict('The payment method has no active network token');
    const { cryptogram, eci } = await tspFor(app.tokenServices, principal.mode, nt.row.tspId).cryptogram({
      tokenReferenceId: nt.row.tokenReferenceId,
      number: nt.number,
      amount: 0,
      currency: 'XXX',
    });
    Object.assign(values, {
      'networkToken.number': nt.number,
      'networkToken.expMonth': pad2(nt.expMonth),
      'networkToken.expYear': String(nt.expYear),
      'networkToken.cryptogram': cryptogram,
      'networkToken.eci': eci,
    } satisfies PlaceholderValues);
  }
  return values;
}

/** Spends the card token (it is single use) once everything else is known to be good. */
async function tokenValues(app: App, principal: Principal, id: string, used: Set<Placeholder>, now: Date): Promise<PlaceholderValues> {
  if (used.has('card.cvc')) {
    const token = await findCardToken(app, principal, id);
    if (token && token.usedAt === null && token.cvc === null) {
      throw ValidationFailed.single(['input', 'body'], 'INVALID_INPUT', 'This card token was created without a CVC');
    }
  }
  return cardValues(await consumeCardToken(app, principal, id, now));
}
