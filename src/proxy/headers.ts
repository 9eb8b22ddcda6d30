/**
 * Header rules on both legs. Hop-by-hop headers, and any named in `Connection`, are dropped
 * (RFC 9110 §7.6.1); so are the client's own credentials. The proxy's headers are added last.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { headerName } from '../util/undici.js';

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
  // Set by the proxy below from what it saw; a trusted peer's (trustForwardedFrom) are kept.
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded',
  // Set by the proxy below, after hop-by-hop removal: `Connection: x-request-id` can't strip it.
  'x-request-id',
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
  /** The request's id, sent upstream in X-Request-Id. */
  requestId?: string;
  /** The peer is a trusted proxy (trustForwardedFrom): keep and extend its X-Forwarded-* and Forwarded. */
  trusted?: boolean;
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

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
  // The proxy's own headers go on after hop-by-hop removal, so a client cannot name them away.
  // SECURITY: a client's X-Forwarded-* and Forwarded are dropped (they could claim any address)
  // unless it is a trusted proxy in front, whose chain is kept and extended.
  const prior = fwd.trusted ? incoming['x-forwarded-for'] : undefined;
  const priorList = Array.isArray(prior) ? prior.join(', ') : prior;
  if (fwd.clientIp) out['x-forwarded-for'] = priorList ? `${priorList}, ${fwd.clientIp}` : fwd.clientIp;
  const proto = fwd.trusted ? first(incoming['x-forwarded-proto']) : undefined;
  out['x-forwarded-proto'] = proto ?? fwd.proto;
  const host = (fwd.trusted ? first(incoming['x-forwarded-host']) : undefined) ?? fwd.host;
  if (host) out['x-forwarded-host'] = host;
  if (fwd.trusted && incoming.forwarded) out.forwarded = incoming.forwarded;
  if (fwd.requestId) out['x-request-id'] = fwd.requestId;
  if (inject) out[inject.name] = inject.value;
  return out;
}

export type ResponseHeaders = Record<string, string | string[]>;

/**
 * An upstream answer's raw head (undici's [name, value, …] buffers) as the headers for the
 * client: names lowercased, repeats joined (Set-Cookie kept as a list), hop-by-hop ones and any
 * named in `Connection` left out. One pass, one object: it runs on every answer.
 */
export function responseHeaders(raw: Buffer[]): ResponseHeaders {
  const out: ResponseHeaders = {};
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = headerName(raw[i]!);
    const v = raw[i + 1]!.toString('latin1');
    if (HOP_BY_HOP.has(k)) {
      if (k === 'connection') connection = connection === undefined ? v : `${connection}, ${v}`;
      continue;
    }
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = k === 'set-cookie' ? [prev, v] : `${prev}, ${v}`;
  }
  const named = connectionTokens(connection);
  if (named) for (const k of named) delete out[k];
  return out;
}
