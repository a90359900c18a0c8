import {
  cvcState,
  expiryState,
  type FieldErrorCode,
  type FieldName,
  formatCvc,
  formatExpiry,
  formatNumber,
  type InputState,
  numberState,
  parseExpiry,
  sdkBrand,
} from './format.js';
import { languageOf, messagesFor } from './messages.js';
import {
  type ChangeEvent,
  FIELDS_CHANNEL,
  type FieldStyle,
  type FrameOptions,
  type FromFrame,
  requestToken,
  sdkError,
  type StyleRules,
  type ToFrame,
  type Unsent,
} from './protocol.js';

// fields.js: the script of the hosted card fields' iframe (GET /js/v1/fields.html, served by the vault, which
// lets only the merchant's allowed origins frame it). The card number, expiry and CVC live here and nowhere else:
// this page calls createCardToken itself (same origin as the vault) and tells the merchant's page only the
// token, the masked card and the fields' state. It takes messages only from its parent window at the origin the
// vault checked against the merchant's allow-list, and posts only to that origin.

const params = new URLSearchParams(location.search);
const PUBLISHABLE_KEY = params.get('key') ?? '';
const PARENT_ORIGIN = params.get('origin') ?? '';
const options = readOptions();
const messages = messagesFor(options.locale, navigator.language);

function readOptions(): FrameOptions {
  try {
    const parsed = JSON.parse(decodeURIComponent(location.hash.slice(1))) as FrameOptions;
    return typeof parsed?.id === 'string' ? parsed : { id: '' };
  } catch {
    return { id: '' };
  }
}

/** The parent is who the vault was told (Chromium and Safari can confirm it; Firefox has no ancestorOrigins). */
function parentConfirmed(): boolean {
  if (window.parent === window || !PARENT_ORIGIN) return false;
  const ancestors = location.ancestorOrigins;
  return !ancestors || ancestors.length === 0 || ancestors[0] === PARENT_ORIGIN;
}

function post(message: Unsent<FromFrame>): void {
  window.parent.postMessage({ ...message, vault: FIELDS_CHANNEL, id: options.id }, PARENT_ORIGIN);
}

// ---- style: a whitelist of CSS properties per state, values without anything that could load or escape ----

const ALLOWED = new Set([
  'color',
  'backgroundColor',
  'fontFamily',
  'fontSize',
  'fontStyle',
  'fontWeight',
  'fontVariant',
  'letterSpacing',
  'lineHeight',
  'textTransform',
  'textShadow',
  'caretColor',
  'borderColor',
  'padding',
]);

function declarations(rules: StyleRules | undefined): string {
  return Object.entries(rules ?? {})
    .filter((entry): entry is [string, string] => ALLOWED.has(entry[0]) && typeof entry[1] === 'string')
    .filter(([, value]) => /^[^;{}<>\\@]*$/.test(value) && !/url\s*\(|expression|image-set/i.test(value))
    .map(([property, value]) => `${property.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}:${value}`)
    .join(';');
}

function placeholder(rules: StyleRules | undefined): string {
  const nested = rules?.['::placeholder'];
  return typeof nested === 'object' ? declarations(nested) : '';
}

function merchantCss(style: FieldStyle = {}): string {
  return [
    `input{${declarations(style.base)}}`,
    `input::placeholder{${placeholder(style.base)}}`,
    `input:focus{${declarations(style.focus)}}`,
    `input.complete{${declarations(style.complete)}}`,
    `input.invalid{${declarations(style.invalid)}}`,
    `input.invalid::placeholder{${placeholder(style.invalid)}}`,
    `.message{${declarations(style.invalid)};font-family:inherit}`,
    `.row{${declarations(style.base)}}`,
  ].join('\n');
}

/** A <style> carrying the page's CSP nonce (the only way a stylesheet applies under style-src 'nonce-…'). */
function addStyle(css: string): void {
  const nonce = document.querySelector<HTMLStyleElement>('style[nonce]')?.nonce ?? '';
  const element = document.createElement('style');
  element.nonce = nonce;
  element.textContent = css;
  document.head.appendChild(element);
}

// ---- the inputs ----

function input(name: FieldName, label: string, attrs: Record<string, string>): HTMLInputElement {
  const wrapper = document.createElement('div');
  wrapper.className = `cell ${name}`;
  const labelElement = document.createElement('label');
  labelElement.htmlFor = name;
  labelElement.className = 'visually-hidden';
  labelElement.textContent = label;
  const element = document.createElement('input');
  element.id = name;
  element.type = 'text';
  element.inputMode = 'numeric';
  element.spellcheck = false;
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  element.setAttribute('aria-describedby', 'message');
  wrapper.append(labelElement, element);
  row.appendChild(wrapper);
  return element;
}

const row = document.createElement('div');
row.className = 'row';
const numberInput = input('number', messages.number, {
  autocomplete: 'cc-number',
  placeholder: '1234 1234 1234 1234',
  name: 'cardnumber',
});
const brandMark = document.createElement('span');
brandMark.className = 'brand';
brandMark.setAttribute('aria-hidden', 'true');
row.appendChild(brandMark);
const expiryInput = input('expiry', `${messages.expiry} (${messages.expiryPlaceholder})`, {
  autocomplete: 'cc-exp',
  placeholder: messages.expiryPlaceholder,
  name: 'exp-date',
});
const cvcInput = input('cvc', messages.cvc, { autocomplete: 'cc-csc', placeholder: 'CVC', name: 'cvc' });
const message = document.createElement('div');
message.id = 'message';
message.className = 'message';
message.setAttribute('role', 'alert');
message.setAttribute('aria-live', 'polite');

const inputs: Record<FieldName, HTMLInputElement> = { number: numberInput, expiry: expiryInput, cvc: cvcInput };
/** Inputs the shopper has left once: their incomplete values count as errors from then on. */
const touched = new Set<FieldName>();

function states(final: boolean): Record<FieldName, InputState> {
  const { digits, brand } = formatNumber(numberInput.value);
  const now = new Date();
  return {
    number: numberState(digits, final || touched.has('number')),
    expiry: expiryState(expiryInput.value, now, final || touched.has('expiry')),
    cvc: cvcState(cvcInput.value, brand, final || touched.has('cvc')),
  };
}

let lastReported = '';

/** Shows the state (classes, message) and tells the page when it changed; `final` judges incomplete input wrong. */
function refresh(final = false): { complete: boolean; errors: { field: FieldName; code: FieldErrorCode }[] } {
  const current = states(final);
  const { brand } = formatNumber(numberInput.value);
  const errors: { field: FieldName; code: FieldErrorCode }[] = [];
  for (const name of ['number', 'expiry', 'cvc'] as const) {
    const state = current[name];
    // An input being typed in shows an error only once it cannot become right.
    inputs[name].classList.toggle('invalid', state.error !== undefined);
    inputs[name].classList.toggle('complete', state.complete);
    inputs[name].setAttribute('aria-invalid', String(state.error !== undefined));
    if (state.error) errors.push({ field: name, code: state.error });
  }
  const first = errors[0];
  message.textContent = first ? messages.errors[first.code] : '';
  brandMark.textContent = brand === 'UNKNOWN' ? '' : sdkBrand(brand).replace('_', ' ');
  brandMark.dataset.brand = sdkBrand(brand);
  const complete = Object.values(current).every((s) => s.complete);
  const event: ChangeEvent = {
    complete,
    empty: Object.values(current).every((s) => s.empty),
    brand: sdkBrand(brand),
    ...(first ? { error: { code: first.code, message: messages.errors[first.code] } } : {}),
  };
  const serialized = JSON.stringify(event);
  if (serialized !== lastReported) {
    lastReported = serialized;
    post({ type: 'change', event });
  }
  reportHeight();
  return { complete, errors };
}

let lastHeight = 0;
function reportHeight(): void {
  const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
  if (height !== lastHeight && lastHeight !== 0) post({ type: 'resize', height });
  lastHeight = height;
}

function reformat(element: HTMLInputElement, text: string): void {
  if (element.value === text) return;
  // Keep the caret after the same number of digits it followed before formatting.
  const caret = element.selectionStart ?? element.value.length;
  const digitsBefore = element.value.slice(0, caret).replace(/\D/g, '').length;
  element.value = text;
  let at = 0;
  let seen = 0;
  while (at < text.length && seen < digitsBefore) {
    if (/\d/.test(text[at]!)) seen++;
    at++;
  }
  if (caret >= text.length - 1 || seen < digitsBefore) at = text.length;
  element.setSelectionRange(at, at);
}

numberInput.addEventListener('input', () => {
  const { text, brand } = formatNumber(numberInput.value);
  reformat(numberInput, text);
  const cvc = formatCvc(cvcInput.value, brand);
  if (cvc !== cvcInput.value) cvcInput.value = cvc;
  refresh();
  if (states(false).number.complete && numberInput.selectionStart === numberInput.value.length) expiryInput.focus();
});
expiryInput.addEventListener('input', (e) => {
  reformat(expiryInput, formatExpiry(expiryInput.value, (e as InputEvent).inputType?.startsWith('delete')));
  refresh();
  if (states(false).expiry.complete) cvcInput.focus();
});
cvcInput.addEventListener('input', () => {
  reformat(cvcInput, formatCvc(cvcInput.value, formatNumber(numberInput.value).brand));
  refresh();
});
for (const [name, element] of Object.entries(inputs) as [FieldName, HTMLInputElement][]) {
  element.addEventListener('focus', () => post({ type: 'focus' }));
  element.addEventListener('blur', () => {
    if (element.value !== '') touched.add(name);
    refresh();
    post({ type: 'blur' });
  });
}

/** The typed card, checked here first (the server checks it again), then tokenized by this page. */
async function tokenize() {
  const { complete, errors } = refresh(true);
  if (!complete) {
    for (const name of ['number', 'expiry', 'cvc'] as const) touched.add(name);
    return sdkError(
      'validation_error',
      errors.map((e) => messages.errors[e.code]).join(' '),
      errors.map((e) => ({ field: e.field, code: e.code, message: messages.errors[e.code] })),
    );
  }
  const expiry = parseExpiry(expiryInput.value)!;
  return requestToken(new URL('../../graphql', location.href).href, PUBLISHABLE_KEY, {
    number: formatNumber(numberInput.value).digits,
    expMonth: expiry.month,
    expYear: expiry.year,
    cvc: cvcInput.value,
  });
}

window.addEventListener('message', (e: MessageEvent) => {
  // Only the window that framed this page, at the origin the vault let frame it.
  if (e.source !== window.parent || e.origin !== PARENT_ORIGIN) return;
  const data = e.data as ToFrame;
  if (!data || data.vault !== FIELDS_CHANNEL || data.id !== options.id) return;
  if (data.type === 'tokenize') {
    void tokenize().then((result) => post({ type: 'token', request: data.request, result }));
  } else if (data.type === 'focus') {
    numberInput.focus();
  } else if (data.type === 'clear') {
    for (const element of Object.values(inputs)) element.value = '';
    touched.clear();
    refresh();
  }
});

if (parentConfirmed()) {
  document.documentElement.lang = languageOf(messages);
  addStyle(merchantCss(options.style));
  document.body.append(row, message);
  refresh();
  lastHeight = Math.ceil(document.documentElement.getBoundingClientRect().height);
  post({ type: 'ready', height: lastHeight });
}
