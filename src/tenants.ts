/**
 * Builds each tenant's runtime from the config: its limits as counters see them, and a token
 * provider per upstream where it has its own vendor account. On reload, a provider whose
 * upstream and credentials did not change is kept (its cached token with it); one whose
 * credentials changed drops the token those credentials obtained.
 */
import { createHash } from 'node:crypto';
import type { RelayConfig, TenantPlan } from './config/types.js';
import type { LimitSpec } from './limits/policy.js';
import type { TenantRuntime } from './proxy/tenancy.js';
import type { Logger } from './telemetry/logger.js';
import type { TokenProvider } from './tokens/token-cache.js';
import { createTokens, tenantTokenKey, type TokenDeps } from './upstreams.js';
import type { Dispatcher } from './util/undici.js';

export type LiveTenant = TenantRuntime & { fingerprints: ReadonlyMap<string, string> };

interface UpstreamView {
  plan: RelayConfig['upstreams'][number];
  fingerprint: string;
  tokenDispatcher: Dispatcher;
}

const digest = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');

export function limitSpec(t: TenantPlan): LimitSpec | undefined {
  const { rate, concurrent, quota } = t.limits;
  return rate || concurrent !== undefined || quota ? { name: t.name, rate, concurrent, quota } : undefined;
}

export function buildTenants(
  config: RelayConfig, upstreams: readonly UpstreamView[], deps: Omit<TokenDeps, 'tokenDispatcher'> & { logger: Logger },
  previous?: ReadonlyMap<string, LiveTenant>,
): Map<string, LiveTenant> {
  const out = new Map<string, LiveTenant>();
  for (const plan of config.tenants) {
    const old = previous?.get(plan.name);
    const own = new Map<string, TokenProvider | undefined>();
    const fingerprints = new Map<string, string>();
    for (const [name, creds] of Object.entries(plan.credentials)) {
      const up = upstreams.find((u) => u.plan.name === name);
      if (!up) continue;
      // Identity of the account, secrets included (as a digest: never kept in clear here).
      const fp = digest({ upstream: up.fingerprint, creds: creds.values ?? null });
      fingerprints.set(name, fp);
      if (old && old.fingerprints.get(name) === fp) {
        own.set(name, old.own.get(name));
        continue;
      }
      // SECURITY: new credentials: the token the old ones obtained must not serve on.
      if (old?.own.get(name)) deps.store.del(tenantTokenKey(name, plan.name));
      own.set(name, creds.values ? createTokens(up.plan, creds.values, { ...deps, tokenDispatcher: up.tokenDispatcher }, plan.name) : undefined);
      if (!creds.values) {
        // SECURITY: names the missing variable or file, never a value.
        deps.logger.warn({ tenant: plan.name, upstream: name, missing: creds.missing }, `tenant ${plan.name} cannot call ${name} until its credentials are set: ${creds.missing.join(', ')}`);
      }
    }
    if (plan.missingKeys.length) deps.logger.warn({ tenant: plan.name, missing: plan.missingKeys }, `some keys of tenant ${plan.name} are not set`);
    if (!plan.keys.length) deps.logger.error({ event: 'tenant_no_keys', tenant: plan.name }, `tenant ${plan.name} has no key set: nobody can call as it`);
    out.set(plan.name, { plan, spec: limitSpec(plan), own, fingerprints });
  }
  return out;
}

/** Every token provider of the tenants' own accounts (for readiness and the token keeper). */
export function tenantProviders(tenants: ReadonlyMap<string, LiveTenant>): Array<{ tenant: string; upstream: string; tokens: TokenProvider }> {
  const out: Array<{ tenant: string; upstream: string; tokens: TokenProvider }> = [];
  for (const t of tenants.values()) for (const [upstream, tokens] of t.own) if (tokens) out.push({ tenant: t.plan.name, upstream, tokens });
  return out;
}
