import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isPrivateAddress, PrivateAddressError, publicOnlyLookup } from './addresses.js';

export interface PostOptions {
  timeoutMs: number;
  /** Refuse private addresses (live mode): a literal one in the URL, or any a name resolves to. */
  publicOnly: boolean;
  /** How names are resolved when publicOnly (default dns.lookup; tests pass their own). */
  resolve?: Parameters<typeof publicOnlyLookup>[0];
}

/**
 * POSTs one webhook delivery and answers the HTTP status; the response body is never read (the socket is
 * dropped once the status is in), redirects are not followed. Fails with the connection's error code
 * (ECONNREFUSED, ENOTFOUND, EPRIVATEADDRESS, …), or an AbortError past `timeoutMs`.
 */
export function postWebhook(url: string, headers: Record<string, string>, body: string, options: PostOptions): Promise<number> {
  const target = new URL(url);
  // A literal address is connected to without a lookup: checked here instead.
  if (options.publicOnly && isPrivateAddress(target.hostname)) return Promise.reject(new PrivateAddressError(target.hostname));
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: AbortSignal.timeout(options.timeoutMs),
        // The connection goes to the addresses this lookup checked: nothing resolves the name a second time.
        ...(options.publicOnly && { lookup: publicOnlyLookup(options.resolve) }),
        // A fresh connection per delivery: a kept-alive socket would skip the lookup (and its check) next time.
        agent: false,
      },
      (res) => {
        resolve(res.statusCode ?? 0);
        res.destroy();
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}
