/**
 * Header rules on both legs. Hop-by-hop headers, and any named in `Connection`, are dropped
 * (RFC 9110 §7.6.1); so are the client's own credentials. The proxy's headers are added last.
 */
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
]);

/** Dropped from requests on top of hop-by-hop ones. */
const REQUEST_DROP = new Set([
  // SECURITY: the client's own Authorization never goes upstream; the proxy sets its own.
  'authorization',
  // Host is the target's; undici sets it from the origin.
  'host',
  // undici refuses `expect`; Node's server has already answered 100-continue to the client.
  'expect',
  // Set by the proxy below from what it saw, never trusted from the client.
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded',
]);

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  // The common values name only hop-by-hop headers that are dropped anyway: no set to build.
  if (!value || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive') return undefined;
  const s = Array.isArray(value) ? value.join(',') : value;
  const out = new Set<string>();
  for (const t of s.split(',')) {
    const v = t.trim().toLowerCase();
    if (v) out.add(v);
  }
  return out;
}

export interface ForwardedInfo {
  clientIp: string | undefined;
  proto: 'http' | 'https';
  host: string | undefined;
}

/**
 * Headers for the upstream request. `drop` is one more (lowercase) header the caller strips:
 * the inbound key header. `inject` is applied last so nothing from the client can override it.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  fwd: ForwardedInfo,
  inject: { name: string; value: string } | undefined,
  drop?: string,
): Record<string, string | string[]> {
  const named = connectionTokens(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const key in incoming) {
    // SECURITY: `drop` is the inbound key header; it never leaves tokenrelay.
    if (HOP_BY_HOP.has(key) || REQUEST_DROP.has(key) || key === drop || named?.has(key)) continue;
    const v = incoming[key];
    if (v !== undefined) out[key] = v;
  }
  const prior = incoming['x-forwarded-for'];
  const priorList = Array.isArray(prior) ? prior.join(', ') : prior;
  if (fwd.clientIp) out['x-forwarded-for'] = priorList ? `${priorList}, ${fwd.clientIp}` : fwd.clientIp;
  out['x-forwarded-proto'] = fwd.proto;
  if (fwd.host) out['x-forwarded-host'] = fwd.host;
  if (inject) out[inject.name] = inject.value;
  return out;
}

/** Response headers for the client: the upstream's minus hop-by-hop ones. */
export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const named = connectionTokens(upstream.connection);
  const out: Record<string, string | string[]> = {};
  for (const key in upstream) {
    if (HOP_BY_HOP.has(key) || named?.has(key)) continue;
    const v = upstream[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}
