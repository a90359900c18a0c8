import {
  type ChangeEvent,
  type CreateTokenResult,
  FIELDS_CHANNEL,
  type FieldStyle,
  type FrameOptions,
  type FromFrame,
  requestToken,
  sdkError,
  type ToFrame,
  type Unsent,
} from './protocol.js';

// vault.js: the script a merchant's page loads from the vault (`<script src="https://vault.example/js/v1/vault.js">`).
// A classic script defining one global, `Vault`. No dependencies: everything here is this file and protocol.ts.
//
//   const vault = Vault('pk_test_…');                  // the vault's address: where this script came from
//   await vault.createToken({ number, expMonth, expYear, cvc });   // the page holds the card: SAQ A-EP
//   const card = vault.fields({ locale: 'de' }).create('card', { style });
//   card.mount('#card');                                // an iframe served by the vault: SAQ A
//   card.on('change', (e) => …);                        // { complete, empty, brand, error }, no card data
//   await vault.createToken(card);                      // { token, card, expiresAt } or { error }

/** Where this script was loaded from: read while it runs (currentScript is null afterwards). */
const SCRIPT_SRC = (document.currentScript as HTMLScriptElement | null)?.src;

interface VaultOptions {
  /** The vault's address (`https://vault.example`, or its `/graphql`); default: where vault.js was loaded from. */
  apiUrl?: string;
}

interface FieldsOptions {
  /** `en`, `de`, … or `auto` (the browser's language, the default). */
  locale?: string;
}

interface CardInput {
  number: string;
  expMonth: number;
  expYear: number;
  cvc?: string;
  holderName?: string;
}

type FieldEvent = 'change' | 'ready' | 'focus' | 'blur';

interface Field {
  mount(target: string | Element): Field;
  unmount(): void;
  on(event: FieldEvent, handler: (e: ChangeEvent | undefined) => void): Field;
  off(event: FieldEvent, handler: (e: ChangeEvent | undefined) => void): Field;
  focus(): void;
  clear(): void;
}

/** The vault's base URL (no trailing slash, no /graphql). */
function vaultBase(apiUrl: string | undefined): string {
  const given = apiUrl ?? (SCRIPT_SRC ? new URL('../..', SCRIPT_SRC).href : undefined);
  if (!given) throw new Error('Vault: pass { apiUrl } (the vault address could not be read from the script tag)');
  const url = new URL(given, location.href);
  return `${url.origin}${url.pathname.replace(/\/(graphql)?\/?$/, '')}`;
}

const fieldsOf = new WeakMap<object, FieldImpl>();
const random = () => Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');

class FieldImpl {
  private frame: HTMLIFrameElement | undefined;
  private ready = false;
  private readonly handlers = new Map<FieldEvent, Set<(e: ChangeEvent | undefined) => void>>();
  private readonly pending = new Map<number, (result: CreateTokenResult) => void>();
  private nextRequest = 1;
  private readonly id = random();
  private readonly listener = (e: MessageEvent) => this.receive(e);

  constructor(
    private readonly base: string,
    private readonly publishableKey: string,
    private readonly options: { locale?: string; style?: FieldStyle },
  ) {}

  mount(target: string | Element): void {
    if (this.frame) throw new Error('Vault: this field is mounted already');
    const parent = typeof target === 'string' ? document.querySelector(target) : target;
    if (!parent) throw new Error(`Vault: no element matches ${String(target)}`);
    const frame = document.createElement('iframe');
    const query = new URLSearchParams({ key: this.publishableKey, origin: location.origin });
    const fragment: FrameOptions = { id: this.id, locale: this.options.locale, style: this.options.style };
    frame.src = `${this.base}/js/v1/fields.html?${query}#${encodeURIComponent(JSON.stringify(fragment))}`;
    frame.title = 'Secure card payment input';
    frame.setAttribute('allowtransparency', 'true');
    frame.setAttribute('scrolling', 'no');
    frame.style.cssText = 'border:0;width:100%;height:44px;display:block;overflow:hidden;background:transparent';
    window.addEventListener('message', this.listener);
    parent.appendChild(frame);
    this.frame = frame;
  }

  unmount(): void {
    window.removeEventListener('message', this.listener);
    this.frame?.remove();
    this.frame = undefined;
    this.ready = false;
    for (const resolve of this.pending.values()) resolve(sdkError('field_unmounted', 'The card field was removed'));
    this.pending.clear();
  }

  on(event: FieldEvent, handler: (e: ChangeEvent | undefined) => void): void {
    const set = this.handlers.get(event) ?? new Set();
    this.handlers.set(event, set);
    set.add(handler);
  }

  off(event: FieldEvent, handler: (e: ChangeEvent | undefined) => void): void {
    this.handlers.get(event)?.delete(handler);
  }

  send(message: Unsent<ToFrame>): boolean {
    const target = this.frame?.contentWindow;
    if (!target || !this.ready) return false;
    // Only to the vault's origin: if the frame were navigated elsewhere, the browser drops the message.
    target.postMessage({ ...message, vault: FIELDS_CHANNEL, id: this.id }, new URL(this.base).origin);
    return true;
  }

  tokenize(): Promise<CreateTokenResult> {
    const request = this.nextRequest++;
    return new Promise((resolve) => {
      if (!this.send({ type: 'tokenize', request })) {
        resolve(sdkError('field_not_ready', 'The card field is not mounted or has not loaded yet'));
        return;
      }
      this.pending.set(request, resolve);
    });
  }

  /** Messages from this field's iframe only: the vault's origin and this frame's window. */
  private receive(e: MessageEvent): void {
    if (e.origin !== new URL(this.base).origin || !this.frame || e.source !== this.frame.contentWindow) return;
    const message = e.data as FromFrame;
    if (!message || message.vault !== FIELDS_CHANNEL || message.id !== this.id) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.frame.style.height = `${message.height}px`;
        this.emit('ready', undefined);
        return;
      case 'resize':
        this.frame.style.height = `${message.height}px`;
        return;
      case 'change':
        this.emit('change', message.event);
        return;
      case 'focus':
      case 'blur':
        this.emit(message.type, undefined);
        return;
      case 'token': {
        const resolve = this.pending.get(message.request);
        this.pending.delete(message.request);
        resolve?.(message.result);
        return;
      }
    }
  }

  private emit(event: FieldEvent, payload: ChangeEvent | undefined): void {
    for (const handler of this.handlers.get(event) ?? []) handler(payload);
  }
}

function createVault(publishableKey: string, options: VaultOptions = {}) {
  if (typeof publishableKey !== 'string' || !/^pk_(test|live)_/.test(publishableKey)) {
    throw new Error('Vault: pass a publishable key (pk_test_… or pk_live_…); a secret key must never reach a browser');
  }
  const base = vaultBase(options.apiUrl);
  return {
    /** Tokenizes a card the page holds, or what the shopper typed into a hosted field. */
    createToken(card: CardInput | Field): Promise<CreateTokenResult> {
      const field = fieldsOf.get(card);
      if (field) return field.tokenize();
      if (!card || typeof card !== 'object') return Promise.resolve(sdkError('invalid_input', 'Pass a card or a mounted field'));
      return requestToken(`${base}/graphql`, publishableKey, { ...(card as CardInput) });
    },
    fields(fieldsOptions: FieldsOptions = {}) {
      return {
        create(type: 'card', fieldOptions: { style?: FieldStyle; locale?: string } = {}): Field {
          if (type !== 'card') throw new Error('Vault: the only field type is "card"');
          const impl = new FieldImpl(base, publishableKey, {
            locale: fieldOptions.locale ?? fieldsOptions.locale,
            style: fieldOptions.style,
          });
          const field: Field = {
            mount(target) {
              impl.mount(target);
              return field;
            },
            unmount: () => impl.unmount(),
            on(event, handler) {
              impl.on(event, handler);
              return field;
            },
            off(event, handler) {
              impl.off(event, handler);
              return field;
            },
            focus: () => void impl.send({ type: 'focus' }),
            clear: () => void impl.send({ type: 'clear' }),
          };
          fieldsOf.set(field, impl);
          return field;
        },
      };
    },
  };
}

/** `Vault(pk, options)`, with or without `new`. */
function Vault(publishableKey: string, options?: VaultOptions) {
  return createVault(publishableKey, options);
}

(window as unknown as { Vault: typeof Vault }).Vault = Vault;
