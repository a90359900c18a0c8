import { describe, expect, inject, it } from 'vitest';
import {
  CancelPaymentDocument,
  CapturePaymentDocument,
  CreateCardTokenDocument,
  CreateCustomerDocument,
  CreatePaymentDocument,
  DeletePaymentMethodDocument,
  PaymentDocument,
  TokenizeCardDocument,
  type CreatePaymentInput,
} from '../../packages/client/src/index.js';
import { openField, openPlaintext } from '../../src/db/encryption.js';
import { createApiKey } from '../../src/domain/merchants/apiKeys.js';
import { clientFor, newMerchant, rawGraphQL, success, useDatabase, type TestMerchant, testApp } from '../helpers/vault.js';
import { EXP_YEAR } from '../helpers/expiry.js';

const getDb = useDatabase();
const base = () => inject('graphqlUrl').replace(/\/graphql$/, '');

const VISA_OK = '4242424242424242';
const VISA_3DS = '4000002500003155';
const VISA_DECLINED = '4000000000000002';
const VISA_NO_FUNDS = '4000000000009995';
const MASTERCARD = '5555555555554444';
const AMEX = '378282246310005';
const RETURN_URL = 'https://shop.example/checkout/done?order=A-17';

const card = (number: string, extra: Record<string, unknown> = {}) => ({ number, expMonth: 12, expYear: EXP_YEAR, ...extra });

async function pay(m: TestMerchant, input: Partial<CreatePaymentInput>) {
  return (await m.client.request(CreatePaymentDocument, { input: { amount: 1234, currency: 'USD', ...input } })).createPayment;
}

async function paid(m: TestMerchant, input: Partial<CreatePaymentInput>) {
  return success(await pay(m, input), 'CreatePaymentSuccess').payment;
}

async function readPayment(m: TestMerchant, id: string) {
  return (await m.client.request(PaymentDocument, { id })).payment;
}

async function vault(m: TestMerchant, number: string, customerId?: string) {
  const r = await m.client.request(TokenizeCardDocument, { input: { customerId, card: card(number, { holderName: 'Pat Stored' }) } });
  return success(r.tokenizeCard, 'TokenizeCardSuccess').paymentMethod;
}

async function cardToken(m: TestMerchant, number = VISA_OK, cvc = '314') {
  const r = await clientFor(m.publishableKey).request(CreateCardTokenDocument, {
    input: { card: card(number, { cvc, holderName: 'Tok Holder' }) },
  });
  return success(r.createCardToken, 'CreateCardTokenSuccess').token;
}

async function newCustomer(m: TestMerchant) {
  const r = await m.client.request(CreateCustomerDocument, { input: { name: 'Paying Customer' } });
  return success(r.createCustomer, 'CreateCustomerSuccess').customer.id;
}

const paymentRow = (m: TestMerchant, id: string) => getDb().prisma.payment.findFirstOrThrow({ where: { merchantId: m.merchantId, id } });
const paymentMethodCount = (m: TestMerchant) => getDb().prisma.paymentMethod.count({ where: { merchantId: m.merchantId } });

// The challenge page driven like a browser: load it, pick the form of a button, submit it.
async function challengePage(redirectUrl: string) {
  const res = await fetch(redirectUrl);
  return { status: res.status, html: await res.text(), headers: res.headers };
}

function formOf(html: string, pageUrl: string, outcome: 'success' | 'failure') {
  for (const form of html.matchAll(/<form method="post" action="([^"]*)">([\s\S]*?)<\/form>/g)) {
    const fields = Object.fromEntries([...form[2]!.matchAll(/name="(\w+)" value="([^"]*)"/g)].map((f) => [f[1]!, f[2]!]));
    if (fields.outcome === outcome) return { action: new URL(form[1]!, pageUrl).toString(), fields };
  }
  throw new Error(`no ${outcome} form on the page`);
}

async function answerChallenge(redirectUrl: string, outcome: 'success' | 'failure') {
  const { html } = await challengePage(redirectUrl);
  const form = formOf(html, redirectUrl, outcome);
  return fetch(form.action, { method: 'POST', body: new URLSearchParams(form.fields), redirect: 'manual' });
}

describe('sandbox connector outcomes', () => {
  it('answers by card number: completed, authorized, challenge, declines', async () => {
    const m = await newMerchant();
    const done = await paid(m, { card: card(VISA_OK, { cvc: '123', holderName: 'Jane Payer' }), currency: 'usd' });
    expect(done).toMatchObject({
      status: 'COMPLETED',
      amount: 1234,
      amountCaptured: 1234,
      currency: 'USD',
      captureMethod: 'AUTOMATIC',
      initiator: 'CUSTOMER',
      connectorId: 'sandbox',
      redirectUrl: null,
      failureCode: null,
      paymentMethod: null,
      savedPaymentMethod: null,
    });
    expect(done.id).toMatch(/^pay_[0-9A-Za-z]{22}$/);
    expect(done.connectorReference).toMatch(/^sbx_[0-9A-Za-z]{22}$/);
    expect(done.card).toMatchObject({
      bin: '424242',
      last4: '4242',
      brand: 'VISA',
      expMonth: 12,
      expYear: EXP_YEAR,
      holderName: 'Jane Payer',
    });

    expect(await paid(m, { card: card(VISA_OK), captureMethod: 'MANUAL' })).toMatchObject({
      status: 'AUTHORIZED',
      amountCaptured: 0,
      captureMethod: 'MANUAL',
    });

    const challenged = await paid(m, { card: card(VISA_3DS), returnUrl: RETURN_URL });
    expect(challenged.status).toBe('REQUIRES_ACTION');
    expect(challenged.redirectUrl).toMatch(new RegExp(`^${base()}/sandbox/challenge/${challenged.id}\\?secret=[\\w-]{43}$`));

    expect(await paid(m, { card: card(VISA_DECLINED) })).toMatchObject({
      status: 'FAILED',
      failureCode: 'card_declined',
      amountCaptured: 0,
    });
    expect(await paid(m, { card: card(VISA_NO_FUNDS) })).toMatchObject({ status: 'FAILED', failureCode: 'insufficient_funds' });
    expect(await paid(m, { card: card(MASTERCARD), connectorId: 'sandbox' })).toMatchObject({
      status: 'COMPLETED',
      card: { brand: 'MASTERCARD' },
    });

    // What was stored: masked card in the clear, expiry and holder sealed, no secret for a settled payment.
    const row = await paymentRow(m, done.id);
    expect(row).toMatchObject({ bin: '424242', last4: '4242', brand: 'VISA', pendingCard: null, challengeSecretHash: null });
    expect(row.cardExpiry).toMatch(/^v1\.dk_/);
    expect(row.holderName).toMatch(/^v1\.dk_/);
    // The challenge URL holds its secret: stored sealed, like card data.
    const challengedRow = await paymentRow(m, challenged.id);
    expect(challengedRow.redirectUrl).toMatch(/^v1\.dk_/);
    expect(challengedRow.redirectUrl).not.toContain('secret=');
    expect((await readPayment(m, done.id))?.status).toBe('COMPLETED');
    expect(await readPayment(m, 'pay_0000000000000000000000')).toBeNull();
  });
});

describe('createPayment validation', () => {
  it('lists every failing field, never echoes card data, and stores nothing', async () => {
    const m = await newMerchant();
    const bad = await pay(m, { amount: 0, currency: 'XYZ', returnUrl: 'ftp://shop.example/', card: card('4242424242424241') });
    const error = success(bad, 'ValidationError');
    expect(error.fields.map((f) => [f.path.join('.'), f.code])).toEqual(
      expect.arrayContaining([
        ['input.amount', 'INVALID_INPUT'],
        ['input.currency', 'INVALID_INPUT'],
        ['input.returnUrl', 'INVALID_INPUT'],
        ['input.card.number', 'INVALID_CARD_NUMBER'],
      ]),
    );
    expect(JSON.stringify(bad)).not.toContain('4242424242424241');

    const none = success(await pay(m, {}), 'ValidationError');
    expect(none.fields).toEqual([expect.objectContaining({ path: ['input', 'card'], code: 'INVALID_INPUT' })]);
    const two = success(await pay(m, { card: card(VISA_OK), paymentMethodId: 'pm_x' }), 'ValidationError');
    expect(two.fields.map((f) => f.path)).toEqual([['input', 'card']]);

    const pm = await vault(m, MASTERCARD);
    const save = success(await pay(m, { paymentMethodId: pm.id, savePaymentMethod: true }), 'ValidationError');
    expect(save.fields.map((f) => f.path)).toEqual([['input', 'savePaymentMethod']]);
    expect(success(await pay(m, { amount: 100_000_000, card: card(VISA_OK) }), 'ValidationError').fields[0]?.path).toEqual([
      'input',
      'amount',
    ]);

    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId } })).toBe(0);
  });

  it('an unknown customer or payment method is NOT_FOUND', async () => {
    const m = await newMerchant();
    expect(await pay(m, { card: card(VISA_OK), customerId: 'cus_0000000000000000000000' })).toMatchObject({ __typename: 'NotFoundError' });
    expect(await pay(m, { paymentMethodId: 'pm_0000000000000000000000' })).toMatchObject({ __typename: 'NotFoundError' });
  });
});

describe('capture and cancel', () => {
  it('captures a manual payment fully or partly; anything else is CONFLICT or a validation error', async () => {
    const m = await newMerchant();
    const full = await paid(m, { card: card(VISA_OK), captureMethod: 'MANUAL', amount: 1000 });
    const captured = success(
      (await m.client.request(CapturePaymentDocument, { id: full.id })).capturePayment,
      'CapturePaymentSuccess',
    ).payment;
    expect(captured).toMatchObject({ status: 'COMPLETED', amountCaptured: 1000 });
    // Captured once: a second capture does not fit the state.
    const again = (await m.client.request(CapturePaymentDocument, { id: full.id })).capturePayment;
    expect(again).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });

    const partial = await paid(m, { card: card(VISA_OK), captureMethod: 'MANUAL', amount: 1000 });
    const above = (await m.client.request(CapturePaymentDocument, { id: partial.id, amount: 1001 })).capturePayment;
    expect(success(above, 'ValidationError').fields).toEqual([expect.objectContaining({ path: ['amount'], code: 'INVALID_INPUT' })]);
    const zero = (await m.client.request(CapturePaymentDocument, { id: partial.id, amount: 0 })).capturePayment;
    expect(success(zero, 'ValidationError').fields[0]?.path).toEqual(['amount']);
    expect((await readPayment(m, partial.id))?.status).toBe('AUTHORIZED');
    const part = (await m.client.request(CapturePaymentDocument, { id: partial.id, amount: 400 })).capturePayment;
    expect(success(part, 'CapturePaymentSuccess').payment).toMatchObject({ status: 'COMPLETED', amount: 1000, amountCaptured: 400 });

    const automatic = await paid(m, { card: card(VISA_OK) });
    expect((await m.client.request(CapturePaymentDocument, { id: automatic.id })).capturePayment).toMatchObject({ code: 'CONFLICT' });
    const declined = await paid(m, { card: card(VISA_DECLINED), captureMethod: 'MANUAL' });
    expect((await m.client.request(CapturePaymentDocument, { id: declined.id })).capturePayment).toMatchObject({ code: 'CONFLICT' });
    expect((await m.client.request(CapturePaymentDocument, { id: 'pay_0000000000000000000000' })).capturePayment).toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('cancels an authorized payment; a completed one is CONFLICT; a cancelled one cannot be captured', async () => {
    const m = await newMerchant();
    const held = await paid(m, { card: card(VISA_OK), captureMethod: 'MANUAL' });
    const cancelled = success(
      (await m.client.request(CancelPaymentDocument, { id: held.id })).cancelPayment,
      'CancelPaymentSuccess',
    ).payment;
    expect(cancelled).toMatchObject({ status: 'CANCELLED', amountCaptured: 0 });
    expect((await m.client.request(CapturePaymentDocument, { id: held.id })).capturePayment).toMatchObject({ code: 'CONFLICT' });
    expect((await m.client.request(CancelPaymentDocument, { id: held.id })).cancelPayment).toMatchObject({ code: 'CONFLICT' });

    const done = await paid(m, { card: card(VISA_OK) });
    expect((await m.client.request(CancelPaymentDocument, { id: done.id })).cancelPayment).toMatchObject({
      __typename: 'ConflictError',
      code: 'CONFLICT',
    });
    expect((await readPayment(m, done.id))?.status).toBe('COMPLETED');
  });
});

describe('3-D Secure challenge (sandbox)', () => {
  it('the page shows the payment; completing it redirects to returnUrl and completes the payment', async () => {
    const m = await newMerchant();
    const p = await paid(m, { card: card(VISA_3DS), returnUrl: RETURN_URL });
    const page = await challengePage(p.redirectUrl!);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.html).toContain('<title>3-D Secure challenge (sandbox)</title>');
    expect(page.html).toContain('Complete authentication');
    expect(page.html).toContain('Fail authentication');
    expect(page.html).toContain('$12.34');
    expect(page.html).toContain('•••• 3155');
    expect(page.html).not.toContain(VISA_3DS);
    expect(page.html).not.toMatch(/<(script|link|img)\b/);

    const res = await answerChallenge(p.redirectUrl!, 'success');
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe('https://shop.example/checkout/done');
    expect(Object.fromEntries(location.searchParams)).toEqual({ order: 'A-17', payment_id: p.id, status: 'COMPLETED' });

    const after = await readPayment(m, p.id);
    expect(after).toMatchObject({ status: 'COMPLETED', amountCaptured: 1234, redirectUrl: null, failureCode: null });
    // A repeat changes nothing and sends the customer to the same place.
    const repeat = await fetch(formOf(page.html, p.redirectUrl!, 'failure').action, {
      method: 'POST',
      body: new URLSearchParams(formOf(page.html, p.redirectUrl!, 'failure').fields),
      redirect: 'manual',
    });
    expect(repeat.status).toBe(303);
    expect(repeat.headers.get('location')).toBe(location.toString());
    expect((await readPayment(m, p.id))?.status).toBe('COMPLETED');
  });

  it('with manual capture a successful challenge authorizes; a failed one fails the payment', async () => {
    const m = await newMerchant();
    const manual = await paid(m, { card: card(VISA_3DS), captureMethod: 'MANUAL', returnUrl: RETURN_URL });
    const ok = await answerChallenge(manual.redirectUrl!, 'success');
    expect(new URL(ok.headers.get('location')!).searchParams.get('status')).toBe('AUTHORIZED');
    expect(await readPayment(m, manual.id)).toMatchObject({ status: 'AUTHORIZED', amountCaptured: 0 });

    const failing = await paid(m, { card: card(VISA_3DS), returnUrl: RETURN_URL });
    const res = await answerChallenge(failing.redirectUrl!, 'failure');
    expect(res.status).toBe(303);
    expect(Object.fromEntries(new URL(res.headers.get('location')!).searchParams)).toMatchObject({
      payment_id: failing.id,
      status: 'FAILED',
    });
    expect(await readPayment(m, failing.id)).toMatchObject({ status: 'FAILED', failureCode: 'authentication_failed', amountCaptured: 0 });

    // Without a returnUrl the page itself tells the result.
    const noReturn = await paid(m, { card: card(VISA_3DS) });
    const shown = await answerChallenge(noReturn.redirectUrl!, 'success');
    expect(shown.status).toBe(200);
    expect(await shown.text()).toContain('the payment is completed');
  });

  it('a wrong secret or an unknown payment is 404 and changes nothing', async () => {
    const m = await newMerchant();
    const p = await paid(m, { card: card(VISA_3DS), returnUrl: RETURN_URL });
    const wrong = new URL(p.redirectUrl!);
    wrong.searchParams.set('secret', 'A'.repeat(43));
    expect((await challengePage(wrong.toString())).status).toBe(404);
    const noSecret = new URL(p.redirectUrl!);
    noSecret.search = '';
    expect((await challengePage(noSecret.toString())).status).toBe(404);
    const post = await fetch(noSecret, {
      method: 'POST',
      body: new URLSearchParams({ secret: 'A'.repeat(43), outcome: 'success' }),
      redirect: 'manual',
    });
    expect(post.status).toBe(404);
    expect((await challengePage(`${base()}/sandbox/challenge/pay_0000000000000000000000?secret=x`)).status).toBe(404);
    expect(await readPayment(m, p.id)).toMatchObject({ status: 'REQUIRES_ACTION', redirectUrl: p.redirectUrl });
  });

  it('a payment awaiting its challenge can be cancelled; the challenge then only reports it', async () => {
    const m = await newMerchant();
    const p = await paid(m, { card: card(VISA_3DS), returnUrl: RETURN_URL });
    const cancelled = (await m.client.request(CancelPaymentDocument, { id: p.id })).cancelPayment;
    expect(success(cancelled, 'CancelPaymentSuccess').payment).toMatchObject({ status: 'CANCELLED', redirectUrl: null });
    const secret = new URL(p.redirectUrl!).searchParams.get('secret')!;
    const res = await fetch(`${base()}/sandbox/challenge/${p.id}`, {
      method: 'POST',
      body: new URLSearchParams({ secret, outcome: 'success' }),
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get('location')!).searchParams.get('status')).toBe('CANCELLED');
    expect((await readPayment(m, p.id))?.status).toBe('CANCELLED');
  });
});

describe('paying with a card token', () => {
  it('spends the token: a second use is TOKEN_ALREADY_USED; a failing input does not spend it', async () => {
    const m = await newMerchant();
    const t = await cardToken(m);
    // Refused before the token is touched.
    expect(await pay(m, { token: t.id, currency: 'XYZ' })).toMatchObject({ __typename: 'ValidationError' });
    expect(await pay(m, { token: t.id, customerId: 'cus_0000000000000000000000' })).toMatchObject({ __typename: 'NotFoundError' });
    const p = await paid(m, { token: t.id });
    expect(p).toMatchObject({ status: 'COMPLETED', card: { last4: '4242', holderName: 'Tok Holder' } });
    expect((await paymentRow(m, p.id)).cardTokenId).toBe(t.id);
    expect(await pay(m, { token: t.id })).toMatchObject({ __typename: 'TokenAlreadyUsedError', code: 'TOKEN_ALREADY_USED' });
    const token = await getDb().prisma.cardToken.findFirstOrThrow({ where: { merchantId: m.merchantId, id: t.id } });
    expect([token.cardNumber, token.cvc]).toEqual([null, null]);
  });

  it('a token past its expiry is TOKEN_EXPIRED', async () => {
    const m = await newMerchant();
    const t = await cardToken(m);
    await getDb().prisma.cardToken.updateMany({
      where: { merchantId: m.merchantId, id: t.id },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    expect(await pay(m, { token: t.id })).toMatchObject({ __typename: 'TokenExpiredError', code: 'TOKEN_EXPIRED' });
    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId } })).toBe(0);
  });
});

describe('stored payment methods and merchant-initiated payments', () => {
  it('MIT needs a prior CIT with the same payment method; using one sets lastUsedAt', async () => {
    const m = await newMerchant();
    const customerId = await newCustomer(m);
    const pm = await vault(m, VISA_OK, customerId);
    expect(pm.lastUsedAt).toBeNull();

    const refused = success(await pay(m, { paymentMethodId: pm.id, initiator: 'MERCHANT' }), 'ValidationError');
    expect(refused.fields).toEqual([expect.objectContaining({ path: ['input', 'initiator'], code: 'INVALID_INPUT' })]);
    const rawCard = success(await pay(m, { card: card(VISA_OK), initiator: 'MERCHANT' }), 'ValidationError');
    expect(rawCard.fields.map((f) => f.path)).toEqual([['input', 'initiator']]);
    const otherCustomer = await newCustomer(m);
    const mismatch = success(await pay(m, { paymentMethodId: pm.id, customerId: otherCustomer }), 'ValidationError');
    expect(mismatch.fields.map((f) => f.path)).toEqual([['input', 'customerId']]);
    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId } })).toBe(0);

    const cit = await paid(m, { paymentMethodId: pm.id });
    expect(cit).toMatchObject({
      status: 'COMPLETED',
      initiator: 'CUSTOMER',
      paymentMethod: { id: pm.id },
      card: { last4: '4242', holderName: 'Pat Stored' },
    });
    expect(cit.paymentMethod?.lastUsedAt).not.toBeNull();
    expect((await paymentRow(m, cit.id)).customerId).toBe(customerId);
    const stored = await getDb().prisma.paymentMethod.findFirstOrThrow({ where: { merchantId: m.merchantId, id: pm.id } });
    expect(stored.citCompletedAt).not.toBeNull();
    expect(stored.lastUsedAt).not.toBeNull();

    const mit = await paid(m, { paymentMethodId: pm.id, initiator: 'MERCHANT', amount: 999 });
    expect(mit).toMatchObject({ status: 'COMPLETED', initiator: 'MERCHANT', amountCaptured: 999, paymentMethod: { id: pm.id } });

    // The payment outlives its payment method; the link then reads as absent.
    await m.client.request(DeletePaymentMethodDocument, { id: pm.id });
    expect(await readPayment(m, mit.id)).toMatchObject({ status: 'COMPLETED', paymentMethod: null, card: { last4: '4242' } });
  });

  it('a declined CIT does not enable MIT; a challenged CIT does once it succeeds', async () => {
    const m = await newMerchant();
    const declined = await vault(m, VISA_DECLINED);
    expect(await paid(m, { paymentMethodId: declined.id })).toMatchObject({ status: 'FAILED', failureCode: 'card_declined' });
    expect(await pay(m, { paymentMethodId: declined.id, initiator: 'MERCHANT' })).toMatchObject({ __typename: 'ValidationError' });

    const challenged = await vault(m, VISA_3DS);
    const cit = await paid(m, { paymentMethodId: challenged.id, returnUrl: RETURN_URL });
    expect(cit.status).toBe('REQUIRES_ACTION');
    expect(await pay(m, { paymentMethodId: challenged.id, initiator: 'MERCHANT' })).toMatchObject({ __typename: 'ValidationError' });
    await answerChallenge(cit.redirectUrl!, 'success');
    // Nobody is there to challenge in a merchant-initiated payment: it goes through.
    expect(await paid(m, { paymentMethodId: challenged.id, initiator: 'MERCHANT' })).toMatchObject({ status: 'COMPLETED' });
  });
});

describe('saving the card during a payment', () => {
  it('saves on success only, for the customer, and enables MIT with it', async () => {
    const m = await newMerchant();
    const customerId = await newCustomer(m);
    const p = await paid(m, { card: card(VISA_OK, { cvc: '123', holderName: 'Saved Holder' }), customerId, savePaymentMethod: true });
    expect(p.status).toBe('COMPLETED');
    expect(p.savedPaymentMethod).toMatchObject({ customer: { id: customerId }, card: { last4: '4242', holderName: 'Saved Holder' } });
    const saved = await getDb().prisma.paymentMethod.findFirstOrThrow({
      where: { merchantId: m.merchantId, id: p.savedPaymentMethod!.id },
    });
    expect(saved.citCompletedAt).not.toBeNull();
    expect(await paid(m, { paymentMethodId: saved.id, initiator: 'MERCHANT' })).toMatchObject({ status: 'COMPLETED' });

    const declined = await paid(m, { card: card(VISA_DECLINED), customerId, savePaymentMethod: true });
    expect(declined).toMatchObject({ status: 'FAILED', savedPaymentMethod: null });
    expect(await paymentMethodCount(m)).toBe(1);

    const fromToken = await paid(m, { token: (await cardToken(m, MASTERCARD)).id, savePaymentMethod: true });
    expect(fromToken.savedPaymentMethod).toMatchObject({ customer: null, card: { last4: '4444', holderName: 'Tok Holder' } });
    expect(await paymentMethodCount(m)).toBe(2);
  });

  it('a challenged payment saves only after a successful challenge, keeping the card sealed and without CVC meanwhile', async () => {
    const m = await newMerchant();
    const customerId = await newCustomer(m);
    const p = await paid(m, { card: card(VISA_3DS, { cvc: '739' }), customerId, savePaymentMethod: true, returnUrl: RETURN_URL });
    expect(p).toMatchObject({ status: 'REQUIRES_ACTION', savedPaymentMethod: null });
    expect(await paymentMethodCount(m)).toBe(0);
    const pending = await paymentRow(m, p.id);
    expect(pending.pendingCard).toMatch(/^v1\.dk_/);
    // The plaintext as sealed, and the value its codec gives back.
    const plaintext = (await openPlaintext(getDb().keyring, 'Payment', 'pendingCard', pending))!;
    expect(JSON.parse(plaintext).card).toMatchObject({ number: VISA_3DS, expMonth: 12, expYear: EXP_YEAR });
    expect(JSON.parse(plaintext).card).not.toHaveProperty('cvc');
    expect(plaintext).not.toContain('739');
    const opened = (await openField(getDb().keyring, 'Payment', 'pendingCard', pending))!;
    expect(opened.card.number.reveal()).toBe(VISA_3DS);
    expect(JSON.stringify(opened)).not.toContain(VISA_3DS);

    await answerChallenge(p.redirectUrl!, 'success');
    const after = await readPayment(m, p.id);
    expect(after?.status).toBe('COMPLETED');
    expect(after?.savedPaymentMethod).toMatchObject({ customer: { id: customerId }, card: { last4: '3155' } });
    expect((await paymentRow(m, p.id)).pendingCard).toBeNull();
    const saved = await getDb().prisma.paymentMethod.findFirstOrThrow({
      where: { merchantId: m.merchantId, id: after!.savedPaymentMethod!.id },
    });
    expect(saved.citCompletedAt).not.toBeNull();

    const failed = await paid(m, { card: card(VISA_3DS), savePaymentMethod: true, returnUrl: RETURN_URL });
    expect((await paymentRow(m, failed.id)).pendingCard).not.toBeNull();
    await answerChallenge(failed.redirectUrl!, 'failure');
    expect(await readPayment(m, failed.id)).toMatchObject({ status: 'FAILED', savedPaymentMethod: null });
    expect((await paymentRow(m, failed.id)).pendingCard).toBeNull();
    expect(await paymentMethodCount(m)).toBe(1);

    const cancelled = await paid(m, { card: card(VISA_3DS), savePaymentMethod: true });
    await m.client.request(CancelPaymentDocument, { id: cancelled.id });
    expect((await paymentRow(m, cancelled.id)).pendingCard).toBeNull();
    expect(await paymentMethodCount(m)).toBe(1);
  });
});

describe('connectors, keys and tenancy', () => {
  it('a live-mode key has no connector; an unknown connector id is refused too', async () => {
    const m = await newMerchant();
    const live = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'LIVE' });
    const r = await clientFor(live.key).request(CreatePaymentDocument, { input: { amount: 100, currency: 'EUR', card: card(VISA_OK) } });
    expect(r.createPayment).toMatchObject({ __typename: 'ConnectorUnavailableError', code: 'CONNECTOR_UNAVAILABLE' });
    expect(await pay(m, { card: card(VISA_OK), connectorId: 'stripe' })).toMatchObject({ __typename: 'ConnectorUnavailableError' });
    // Refused before the token is spent.
    const t = await cardToken(m);
    expect(await pay(m, { token: t.id, connectorId: 'stripe' })).toMatchObject({ code: 'CONNECTOR_UNAVAILABLE' });
    expect(await paid(m, { token: t.id })).toMatchObject({ status: 'COMPLETED' });
    expect(await getDb().prisma.payment.count({ where: { merchantId: m.merchantId, mode: 'LIVE' } })).toBe(0);
  });

  it('a publishable key may not pay or read payments', async () => {
    const m = await newMerchant();
    const create = await rawGraphQL(
      { query: 'mutation { createPayment(input: { amount: 100, currency: "USD", paymentMethodId: "pm_x" }) { __typename } }' },
      { 'api-key': m.publishableKey },
    );
    expect(create.json.errors[0].extensions.code).toBe('FORBIDDEN');
    const read = await rawGraphQL({ query: '{ payment(id: "pay_x") { id } }' }, { 'api-key': m.publishableKey });
    expect(read.json.errors[0].extensions.code).toBe('FORBIDDEN');
  });

  it("another merchant (or the live key) cannot read, capture or cancel a payment, nor pay with another's card", async () => {
    const m = await newMerchant();
    const p = await paid(m, { card: card(VISA_OK), captureMethod: 'MANUAL' });
    const pm = await vault(m, MASTERCARD);
    const other = await newMerchant();
    const live = await createApiKey(testApp(), { merchantId: m.merchantId, kind: 'SECRET', mode: 'LIVE' });
    for (const client of [other.client, clientFor(live.key)]) {
      expect((await client.request(PaymentDocument, { id: p.id })).payment).toBeNull();
      expect((await client.request(CapturePaymentDocument, { id: p.id })).capturePayment).toMatchObject({ code: 'NOT_FOUND' });
      expect((await client.request(CancelPaymentDocument, { id: p.id })).cancelPayment).toMatchObject({ code: 'NOT_FOUND' });
    }
    expect(await pay(other, { paymentMethodId: pm.id })).toMatchObject({ __typename: 'NotFoundError' });
    expect((await readPayment(m, p.id))?.status).toBe('AUTHORIZED');
  });
});

describe('card data hygiene of payments', () => {
  it('no CVC is kept anywhere once the payments are done', async () => {
    const m = await newMerchant();
    const CVC = '7391';
    const amex = await paid(m, { card: card(AMEX, { cvc: CVC, holderName: 'Amex Holder' }), savePaymentMethod: true });
    expect(amex).toMatchObject({ status: 'COMPLETED', card: { brand: 'AMEX', last4: '0005' } });
    const t = await cardToken(m, VISA_3DS, '739');
    const challenged = await paid(m, { token: t.id, savePaymentMethod: true, returnUrl: RETURN_URL });
    await answerChallenge(challenged.redirectUrl!, 'success');

    const { prisma, keyring } = getDb();
    const where = { merchantId: m.merchantId };
    const [payments, tokens, methods] = await Promise.all([
      prisma.payment.findMany({ where }),
      prisma.cardToken.findMany({ where }),
      prisma.paymentMethod.findMany({ where }),
    ]);
    expect(payments.map((r) => r.pendingCard)).toEqual([null, null]);
    expect(methods).toHaveLength(2);
    const opened = await Promise.all([
      ...payments.flatMap((r) => (['cardExpiry', 'holderName'] as const).map((f) => openPlaintext(keyring, 'Payment', f, r))),
      ...methods.flatMap((r) =>
        (['cardExpiry', 'holderName', 'billing'] as const).map((f) => openPlaintext(keyring, 'PaymentMethod', f, r)),
      ),
      ...tokens.flatMap((r) => (['cardExpiry', 'holderName', 'cvc'] as const).map((f) => openPlaintext(keyring, 'CardToken', f, r))),
    ]);
    const everything = JSON.stringify([payments, tokens, methods, opened]);
    expect(everything).not.toContain(CVC);
    expect(everything).not.toContain('"739"');
    expect(tokens[0]?.cvc).toBeNull();
  });
});
