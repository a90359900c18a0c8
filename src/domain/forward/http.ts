import { ForwardFailed } from '../shared/errors.js';

// The upstream exchange of forwardRequest: Node's fetch (undici) with the whole exchange under one timeout,
// the response body read up to a byte limit, and redirects followed only when `mayFollow` allows the target
// (a host on the merchant's list, never from https down to http). Any other redirect is returned as is.

export interface UpstreamRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The URL that answered (after redirects). */
  url: URL;
}

export interface UpstreamLimits {
  timeoutMs: number;
  maxResponseBytes: number;
  maxRedirects: number;
  mayFollow(url: URL): boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function sendUpstream(request: UpstreamRequest, limits: UpstreamLimits): Promise<UpstreamResponse> {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  let current = request;
  try {
    for (let hop = 0; ; hop++) {
      const response = await fetch(current.url, {
        method: current.method,
        headers: current.headers,
        body: current.body,
        redirect: 'manual',
        signal,
      });
      const location = response.headers.get('location');
      const target = REDIRECTS.has(response.status) && location ? safeUrl(location, current.url) : undefined;
      if (target && (target.protocol === 'https:' || current.url.protocol === 'http:') && limits.mayFollow(target)) {
        await response.body?.cancel();
        if (hop >= limits.maxRedirects)
          throw new ForwardFailed(`The upstream redirected more than ${limits.maxRedirects} times`, 'TOO_MANY_REDIRECTS');
        current = redirected(current, response.status, target);
        continue;
      }
      return {
        status: response.status,
        headers: Object.fromEntries(response.headers),
        body: await readLimited(response, limits.maxResponseBytes),
        url: current.url,
      };
    }
  } catch (err) {
    if (err instanceof ForwardFailed) throw err;
    if (signal.aborted) throw new ForwardFailed(`The upstream did not answer within ${limits.timeoutMs} ms`, 'TIMEOUT');
    // Node's fetch says "fetch failed" and puts the reason (ECONNREFUSED, ENOTFOUND, …) in `cause`.
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    throw new ForwardFailed(`The upstream could not be reached${typeof code === 'string' ? ` (${code})` : ''}`, 'UNREACHABLE');
  }
}

function safeUrl(location: string, base: URL): URL | undefined {
  try {
    return new URL(location, base);
  } catch {
    return undefined;
  }
}

/** 307/308 repeat the request; 301/302/303 turn it into a GET without a body (what browsers do). */
function redirected(request: UpstreamRequest, status: number, url: URL): UpstreamRequest {
  if (status === 307 || status === 308 || request.method === 'GET' || request.method === 'HEAD') return { ...request, url };
  const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !/^content-/i.test(name)));
  return { url, method: 'GET', headers };
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw tooLarge(maxBytes);
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    // Leaving the loop cancels the stream.
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  return decodeBody(Buffer.concat(chunks), response.headers.get('content-type'));
}

/**
 * The body as text in the charset it declares (a UTF-16 reply read as UTF-8 would hide the card number it
 * echoes from masking), or the charset its byte order mark names; UTF-8 otherwise.
 */
function decodeBody(bytes: Uint8Array, contentType: string | null): string {
  const declared = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1];
  const bom = bytes[0] === 0xff && bytes[1] === 0xfe ? 'utf-16le' : bytes[0] === 0xfe && bytes[1] === 0xff ? 'utf-16be' : undefined;
  for (const label of [bom, declared]) {
    if (!label) continue;
    try {
      return new TextDecoder(label).decode(bytes);
    } catch {
      // An unknown label: try the next, then UTF-8.
    }
  }
  return new TextDecoder('utf-8').decode(bytes);
}

function tooLarge(maxBytes: number): ForwardFailed {
  return new ForwardFailed(`The upstream response is larger than ${maxBytes} bytes`, 'RESPONSE_TOO_LARGE');
}
