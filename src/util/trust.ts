/**
 * Which peers may tell tokenrelay who the client is (`trustForwardedFrom`): a load balancer in
 * front keeps its X-Forwarded-* and Forwarded headers; anyone else's are dropped and replaced.
 * CIDRs are checked with Node's BlockList (IPv4-mapped IPv6 peers match their IPv4 ranges).
 */
import { BlockList, isIP } from 'node:net';

/** `10.0.0.0/8`, `fd00::/8`, or a single address. Undefined when valid, else what is wrong. */
export function cidrProblem(text: string): string | undefined {
  const [addr = '', bits, ...rest] = text.split('/');
  const family = isIP(addr);
  if (!family || rest.length) return 'expected an IP address or a CIDR such as 10.0.0.0/8';
  if (bits === undefined) return undefined;
  const n = Number(bits);
  const max = family === 4 ? 32 : 128;
  return /^\d+$/.test(bits) && n <= max ? undefined : `expected a prefix length of 0 to ${max}`;
}

/** A predicate over peer addresses; undefined (trust nobody) for an empty list. */
export function createTrust(cidrs: readonly string[]): ((ip: string | undefined) => boolean) | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr = '', bits] = c.split('/');
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return (ip) => {
    if (!ip) return false;
    const v4 = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : undefined;
    return v4 ? list.check(v4, 'ipv4') : list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
  };
}
