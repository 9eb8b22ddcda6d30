/**
 * What a tenant's call may do and with which account: the upstreams it may call, its narrower
 * allow-list, its own vendor account (never the upstream's once it has one, never another
 * tenant's), and the headers that tell it about its limits when one refuses it.
 */
import type { TenantPlan, UpstreamPlan } from '../config/types.js';
import type { LimitSpec, QuotaView, Refused } from '../limits/policy.js';
import { PERIOD_SECONDS } from '../limits/windows.js';
import type { TokenProvider } from '../tokens/token-cache.js';
import { TokenRelayError } from '../util/errors.js';
import { matchesRules } from './guard.js';

export interface TenantRuntime {
  plan: TenantPlan;
  /** Its limits; undefined when it has none (nothing to count). */
  spec: LimitSpec | undefined;
  /** Its own account per upstream: a provider, or undefined while its credentials are missing. */
  own: ReadonlyMap<string, TokenProvider | undefined>;
}

export interface Account {
  tokens: TokenProvider | undefined;
  /** Whose credential this is (a vendor's 429 pauses that credential's calls only). */
  scope: string;
}

/** The account a tenant's call to `up` uses, or why the call is refused. */
export function tenantAccount(t: TenantRuntime, up: { plan: UpstreamPlan; tokens: TokenProvider | undefined }, method: string, rest: string): Account | TokenRelayError {
  const { name } = up.plan;
  const tenant = t.plan.name;
  if (t.plan.upstreams && !t.plan.upstreams.includes(name)) {
    return new TokenRelayError('NOT_ALLOWED', `tenant ${tenant} may not call upstream ${name}`, { upstream: name });
  }
  const rules = t.plan.allow[name];
  if (rules && !matchesRules(rules, method, rest)) {
    return new TokenRelayError('NOT_ALLOWED', `${method} ${rest.split('?')[0]!.slice(0, 200)} is not on tenant ${tenant}'s allow-list for ${name}`, { upstream: name });
  }
  if (!t.own.has(name)) return upstreamAccount(up);
  const tokens = t.own.get(name);
  // SECURITY: a tenant with its own account never falls back to the upstream's.
  if (!tokens) {
    return new TokenRelayError('CREDENTIALS_MISSING', `tenant ${tenant}'s credentials for ${name} are missing: ${t.plan.credentials[name]?.missing.join(', ')}`, { upstream: name });
  }
  let a = ownAccounts.get(tokens);
  if (!a) ownAccounts.set(tokens, (a = { tokens, scope: `${name}/${tenant}` }));
  return a;
}

// One account object per token provider, not one per call.
const ownAccounts = new WeakMap<TokenProvider, Account>();
const upstreamAccounts = new WeakMap<object, Account>();
function upstreamAccount(up: { plan: UpstreamPlan; tokens: TokenProvider | undefined }): Account {
  let a = upstreamAccounts.get(up);
  if (!a || a.tokens !== up.tokens) upstreamAccounts.set(up, (a = { tokens: up.tokens, scope: up.plan.name }));
  return a;
}

/** The coded error for a limit's refusal: 429 with its Retry-After. */
export function refusalError(r: Refused, tenant: string, upstream: string): TokenRelayError {
  const why = r.reason === 'quota' ? 'its quota for the period' : r.reason === 'rate' ? 'its rate limit' : 'its limit of calls in flight';
  return new TokenRelayError(r.reason === 'quota' ? 'QUOTA_EXCEEDED' : 'TENANT_RATE_LIMITED', `tenant ${tenant} is over ${why}`, { upstream, retryAfterMs: r.retryAfterMs });
}

/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers): each policy of the
 * tenant, and what is left of the one that refused (and of the quota, when known).
 */
export function rateLimitHeaders(spec: LimitSpec, refused: Refused | undefined, quota: QuotaView | undefined): Record<string, string> {
  const policies: string[] = [];
  if (spec.rate) {
    // A sustained rate as a quota in a window: whole calls per whole seconds.
    const w = spec.rate.perSecond >= 1 ? 1 : Math.ceil(1 / spec.rate.perSecond);
    policies.push(`"rate";q=${Math.max(1, Math.floor(spec.rate.perSecond * w))};w=${w}`);
  }
  if (spec.concurrent !== undefined) policies.push(`"concurrency";q=${spec.concurrent};qu="concurrent-requests"`);
  if (spec.quota) policies.push(`"quota";q=${spec.quota.requests};w=${PERIOD_SECONDS[spec.quota.per]}`);
  const left: string[] = [];
  const secs = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
  if (refused && refused.reason !== 'quota') left.push(`"${refused.reason}";r=0;t=${secs(refused.retryAfterMs)}`);
  if (refused?.reason === 'quota') left.push(`"quota";r=0;t=${secs(refused.retryAfterMs)}`);
  else if (quota) left.push(`"quota";r=${quota.remaining};t=${Math.max(1, quota.resetsInSeconds)}`);
  const h: Record<string, string> = {};
  if (policies.length) h['ratelimit-policy'] = policies.join(', ');
  if (left.length) h.ratelimit = left.join(', ');
  return h;
}
