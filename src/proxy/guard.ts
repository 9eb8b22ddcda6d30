/**
 * Checks a request must pass before any token is touched: a request target that is a plain
 * path inside its prefix, one Host, the inbound key, the upstream's allow-list. Each failure
 * is a coded error; nothing here ever reaches an upstream.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { InboundPlan, TenantPlan, UpstreamPlan } from '../config/types.js';
import { TokenRelayError } from '../util/errors.js';

/**
 * Dot segments in any spelling (`..`, `%2e%2E`, `..;` as servlet containers read it), separators
 * hidden as `%2f`, `%5c` or `\`, a NUL, and `;` (path parameters: where `..;/` hides).
 */
const SUSPECT = /%2e|%2f|%5c|\\|\/\.{1,2}(?:[/?;]|$)|%00|;/i;

/** Methods never forwarded: TRACE (and TRACK) echo the request, injected token included. */
const REFUSED_METHODS = new Set(['TRACE', 'TRACK']);

/** SECURITY: TRACE/TRACK would hand the injected Authorization back to the client. */
export function checkMethod(method: string | undefined): TokenRelayError | undefined {
  return method !== undefined && REFUSED_METHODS.has(method) ? new TokenRelayError('METHOD_NOT_ALLOWED', `${method} is not proxied`) : undefined;
}

/**
 * The request target must be origin-form (`/path?query`): absolute-form
 * (`http://elsewhere/…`), authority-form and `*` are refused, as is any path that would climb
 * out of its prefix once an upstream normalised it.
 */
export function checkTarget(req: IncomingMessage): TokenRelayError | undefined {
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* / */ || url.charCodeAt(1) === 47) {
    return new TokenRelayError('BAD_REQUEST', 'the request target must be a path (origin-form)');
  }
  // RFC 9112 §3.2: a request target never carries a fragment; an upstream URL parser would
  // cut there and resolve what came before it (`/voice/..#x`) outside the prefix.
  if (url.includes('#')) return new TokenRelayError('BAD_PATH', 'the request target has a fragment (#)');
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (SUSPECT.test(path)) {
    // Only now the exact check: decode what could hide a separator or a dot, then look at
    // segments, each up to its first `;` (a path parameter does not make `..` a name).
    const plain = path.replace(/%2e/gi, '.').replace(/%2f|%5c|\\/gi, '/');
    if (/%00/i.test(path) || plain.split('/').some((s) => {
      const seg = s.split(';')[0];
      return seg === '.' || seg === '..';
    })) {
      return new TokenRelayError('BAD_PATH', 'the path has dot segments or hidden separators');
    }
  }
  // RFC 9112 §3.2: more than one Host is a 400.
  let hosts = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++;
  if (hosts > 1) return new TokenRelayError('BAD_REQUEST', 'more than one Host header');
  return undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Who a request is: a tenant's name, or `null` for a key of inbound.apiKeys (no tenant). */
export type Caller = string | null;

/**
 * Returns a checker for the inbound key, or undefined when inbound authentication is off. It
 * answers the caller (the tenant whose key it is, or null for inbound.apiKeys) or the error.
 */
export function createInboundCheck(inbound: InboundPlan | undefined, tenants: readonly TenantPlan[] = []) {
  if (!inbound) return undefined;
  // SECURITY: compare fixed-length digests in constant time, and always against every key, so
  // neither a key's length nor which key matched shows in the timing.
  const keys = [...inbound.keys.map((k) => ({ d: digest(k), owner: null as Caller })), ...tenants.flatMap((t) => t.keys.map((k) => ({ d: digest(k), owner: t.name as Caller })))];
  const { header } = inbound;
  // Keys already found valid, so a key's every call does not pay a SHA-256: only valid keys are
  // kept (a flood of wrong ones cannot grow it), and a hit says no more than the answer does.
  const known = new Map<string, Caller>();
  return function inboundCheck(req: IncomingMessage): Caller | TokenRelayError {
    const presented = req.headers[header];
    if (typeof presented === 'string' && presented !== '' && keys.length > 0) {
      const hit = known.get(presented);
      if (hit !== undefined) return hit;
      const d = digest(presented);
      let found: Caller | undefined;
      for (const k of keys) if (timingSafeEqual(d, k.d)) found = k.owner;
      if (found !== undefined) {
        if (known.size < 4096) known.set(presented, found);
        return found;
      }
    }
    return new TokenRelayError('INBOUND_UNAUTHORIZED', `a valid key is required in the ${inbound.header} header`);
  };
}

/** The allow-list: method (or `*`) and a path prefix, matched against the path after the upstream's prefix. */
export function isAllowed(plan: UpstreamPlan, method: string, rest: string): boolean {
  return !plan.allow || matchesRules(plan.allow, method, rest);
}

export function matchesRules(rules: readonly { method: string; path: string }[], method: string, rest: string): boolean {
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  return rules.some((r) => (r.method === '*' || r.method === method) && path.startsWith(r.path));
}
