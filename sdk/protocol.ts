// What the merchant's page (vault.js) and the hosted fields' iframe (fields.js) say to each other by
// postMessage. Every message carries `vault: FIELDS_CHANNEL` and the field's id; each side checks the
// sender's origin and window before reading one. No message from the iframe ever holds card data beyond the
// masked card of a created token.

export const FIELDS_CHANNEL = 'vault-fields-v1';

/** The shape of `{ error }` answers, from createToken(card) and createToken(field) alike. */
export interface SdkError {
  code: string;
  message: string;
  fields: { field: string; code: string; message: string }[];
}

interface TokenResult {
  token: string;
  card: { bin: string; last4: string; brand: string; expMonth: number; expYear: number };
  expiresAt: string;
}

export type CreateTokenResult = TokenResult | { error: SdkError };

export interface ChangeEvent {
  complete: boolean;
  empty: boolean;
  brand: string;
  error?: { code: string; message: string };
}

/** Iframe -> page. */
export type FromFrame =
  | { vault: typeof FIELDS_CHANNEL; id: string; type: 'ready'; height: number }
  | { vault: typeof FIELDS_CHANNEL; id: string; type: 'change'; event: ChangeEvent }
  | { vault: typeof FIELDS_CHANNEL; id: string; type: 'focus' | 'blur' }
  | { vault: typeof FIELDS_CHANNEL; id: string; type: 'resize'; height: number }
  | { vault: typeof FIELDS_CHANNEL; id: string; type: 'token'; request: number; result: CreateTokenResult };

/** A message as its sender writes it (the channel and field id are added by the sending function). */
export type Unsent<T> = T extends unknown ? Omit<T, 'vault' | 'id'> : never;

/** Page -> iframe. */
export type ToFrame =
  | { vault: typeof FIELDS_CHANNEL; id: string; type: 'tokenize'; request: number }
  | { vault: typeof FIELDS_CHANNEL; id: string; type: 'focus' | 'clear' };

/** A field's options that travel to the iframe in its URL's fragment (never sent to a server). */
export interface FrameOptions {
  id: string;
  locale?: string;
  style?: FieldStyle;
}

/** Style per state, as Stripe Elements takes it (a subset of CSS properties; see fields.ts ALLOWED). */
export interface FieldStyle {
  base?: StyleRules;
  focus?: StyleRules;
  invalid?: StyleRules;
  complete?: StyleRules;
}

export type StyleRules = Record<string, string | Record<string, string>>;

/**
 * The GraphQL document both sides send: the vault's createCardToken with a publishable key. A vault that runs
 * trusted documents only (VAULT_TRUSTED_DOCUMENTS=require) takes it by id once the operator has pushed
 * dist/sdk/persisted-documents.json (written by `npm run build`).
 */
export const CREATE_CARD_TOKEN = `mutation VaultJsCreateCardToken($input: CreateCardTokenInput!) {
  createCardToken(input: $input) {
    __typename
    ... on CreateCardTokenSuccess { token { id expiresAt card { bin last4 brand expMonth expYear } } }
    ... on ValidationError { code message fields { path code message } }
  }
}`;

interface GraphqlAnswer {
  data?: {
    createCardToken?: {
      __typename: string;
      token?: { id: string; expiresAt: string; card: { bin: string; last4: string; brand: string; expMonth: number; expYear: number } };
      code?: string;
      message?: string;
      fields?: { path: string[]; code: string; message: string }[];
    };
  };
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Calls createCardToken at `graphqlUrl` with the publishable key; the answer in the SDK's shape. */
export async function requestToken(graphqlUrl: string, publishableKey: string, card: Record<string, unknown>): Promise<CreateTokenResult> {
  const send = async (document: { query: string } | { documentId: string }) => {
    const response = await fetch(graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': publishableKey },
      body: JSON.stringify({ ...document, variables: { input: { card } } }),
      credentials: 'omit',
    });
    return (await response.json()) as GraphqlAnswer;
  };
  let answer: GraphqlAnswer;
  try {
    answer = await send({ query: CREATE_CARD_TOKEN });
    // A vault running trusted documents only: the same document by its id (refused, the text ran nothing).
    if (answer.errors?.[0]?.extensions?.code === 'PERSISTED_DOCUMENT_REQUIRED' && globalThis.crypto?.subtle) {
      answer = await send({ documentId: await documentIdOf(CREATE_CARD_TOKEN) });
    }
  } catch {
    return sdkError('network_error', 'The vault could not be reached (is this page’s origin allowed for the key?)');
  }
  const result = answer.data?.createCardToken;
  if (result?.token) {
    const { id, expiresAt, card: c } = result.token;
    return {
      token: id,
      card: { bin: c.bin, last4: c.last4, brand: c.brand.toLowerCase(), expMonth: c.expMonth, expYear: c.expYear },
      expiresAt,
    };
  }
  if (result) {
    return {
      error: {
        code: (result.code ?? 'validation_error').toLowerCase(),
        message: result.message ?? 'The card was refused',
        fields: (result.fields ?? []).map((f) => ({ field: fieldName(f.path), code: f.code.toLowerCase(), message: f.message })),
      },
    };
  }
  const first = answer.errors?.[0];
  return sdkError((first?.extensions?.code ?? 'request_failed').toLowerCase(), first?.message ?? 'The request failed');
}

/** The trusted-document id of a text: `sha256:<hex>` (as src/domain/trustedDocuments computes it). */
async function documentIdOf(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return `sha256:${Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** `["input","card","number"]` -> `number`. */
function fieldName(path: string[]): string {
  const at = path.indexOf('card');
  return (at >= 0 ? path.slice(at + 1) : path.slice(1)).join('.');
}

export function sdkError(code: string, message: string, fields: SdkError['fields'] = []): { error: SdkError } {
  return { error: { code, message, fields } };
}
