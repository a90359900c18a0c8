import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

// Addresses a live mode endpoint may not reach: loopback, private, shared (CGNAT), link-local (cloud
// metadata at 169.254.169.254), unspecified, unique-local. Checked twice: on the URL when the endpoint is
// created (a literal address or a local name), and on every address its name resolves to when a delivery
// connects, so that a public name pointing (or later re-pointed: DNS rebinding) at the vault's own network is
// refused too. The connection uses exactly the addresses checked: no second lookup between check and connect.

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

/** An IP address (v4, v6, or v4-mapped v6) in one of the blocks above. */
export function isPrivateAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '');
  const family = isIP(a);
  if (family === 4) return PRIVATE.check(a, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(.+)$/i.exec(a)?.[1];
    return PRIVATE.check(a, 'ipv6') || (mapped !== undefined && isIP(mapped) === 4 && PRIVATE.check(mapped, 'ipv4'));
  }
  return false;
}

/** A URL's host that is a private address or a name that is local by definition (localhost, .local, .internal). */
export function isPrivateHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(h)) return isPrivateAddress(h);
  return h === 'localhost' || h.endsWith('.localhost') || h.endsWith('.local') || h.endsWith('.internal');
}

/** The error a connection fails with when its name resolves to a private address. */
export class PrivateAddressError extends Error {
  readonly code = 'EPRIVATEADDRESS';
  constructor(hostname: string) {
    super(`${hostname} resolves to a private address`);
  }
}

type Resolve = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for node:net/http/https that resolves every address of a name and fails the connection
 * (PrivateAddressError) if any of them is private; otherwise hands the checked addresses to the connection.
 * `resolve` is dns.lookup (tests pass their own).
 */
export function publicOnlyLookup(resolve: Resolve = dnsLookup as unknown as Resolve): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) {
        return callback(new PrivateAddressError(hostname), '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}
