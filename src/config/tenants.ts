/**
 * Tenants, checked and compiled beyond the schema: every upstream a tenant names exists; its
 * allow rules and credentials are for upstreams it may call; its credentials are the
 * upstream's credential keys; a key belongs to exactly one tenant (or to inbound.apiKeys).
 */
import type { RawConfig } from './schema.js';
import type { InboundPlan, TenantPlan, UpstreamPlan } from './types.js';
import type { Unresolved } from './env.js';
import { suggest } from './format.js';
import { allowRule, gatherCredentials, ratePlan, readSecretFile, unsetText } from './plan.js';

const unknown = (what: string, name: string, known: readonly string[]) => {
  const near = suggest(name, known);
  return `unknown ${what} "${name}"${near ? ` (did you mean "${near}"?)` : ''}; known: ${known.join(', ') || 'none'}`;
};

export function planTenants(
  raw: RawConfig['tenants'], upstreams: readonly UpstreamPlan[], unresolved: Unresolved[],
  readFile: (p: string) => string, problems: string[],
): TenantPlan[] {
  const names = upstreams.map((u) => u.name);
  return Object.entries(raw).map(([name, t]) => {
    const base = `tenants.${name}`;
    const keys: string[] = [];
    const missingKeys: string[] = [];
    t.keys.forEach((k, i) => {
      if (k) return void keys.push(k);
      const u = unresolved.find((x) => x.path === `${base}.keys.${i}`);
      missingKeys.push(u ? `${base}.keys.${i} (${unsetText(u)})` : `${base}.keys.${i} (empty)`);
    });
    for (const f of t.keyFiles) {
      const k = readSecretFile(readFile, f);
      if (typeof k === 'string') keys.push(k);
      else missingKeys.push(`${base}.keyFiles (${k.problem})`);
    }
    t.upstreams?.forEach((u, i) => {
      if (!names.includes(u)) problems.push(`${base}.upstreams.${i}: ${unknown('upstream', u, names)}`);
    });
    const callable = (u: string, at: string) => {
      if (!names.includes(u)) problems.push(`${at}: ${unknown('upstream', u, names)}`);
      else if (t.upstreams && !t.upstreams.includes(u)) problems.push(`${at}: "${u}" is not in ${base}.upstreams`);
    };
    const allow: Record<string, { method: string; path: string }[]> = {};
    for (const [u, rules] of Object.entries(t.allow ?? {})) {
      callable(u, `${base}.allow.${u}`);
      allow[u] = rules.map(allowRule);
    }
    const credentials: Record<string, TenantPlan['credentials'][string]> = {};
    for (const [u, given] of Object.entries(t.credentials ?? {})) {
      const at = `${base}.credentials.${u}`;
      callable(u, at);
      const plan = upstreams.find((x) => x.name === u);
      if (!plan) continue;
      const creds = plan.provider.credentials;
      const keysAllowed = creds.flatMap((c) => [c, `${c}File`]);
      for (const k of Object.keys(given)) if (!keysAllowed.includes(k)) problems.push(`${at}.${k}: ${unknown(`credential of upstream ${u}`, k, keysAllowed)}`);
      credentials[u] = gatherCredentials(creds.map((c) => ({ name: c, direct: given[c], file: given[`${c}File`], path: `${at}.${c}` })), unresolved, readFile);
    }
    const l = t.limits;
    if (l.burst !== undefined && l.requestsPerSecond === undefined) problems.push(`${base}.limits.burst: needs ${base}.limits.requestsPerSecond`);
    return {
      name, keys, missingKeys, upstreams: t.upstreams, allow, credentials,
      limits: {
        rate: l.requestsPerSecond === undefined ? undefined : ratePlan(l.requestsPerSecond, l.burst),
        concurrent: l.concurrent,
        quota: l.quota,
      },
    };
  });
}

/** A key in two places (two tenants, or a tenant and inbound.apiKeys) is an error: whose call would it be? */
export function checkKeysUnique(tenants: readonly TenantPlan[], inbound: InboundPlan | undefined, problems: string[]): void {
  const owner = new Map<string, string>();
  const claim = (key: string, where: string) => {
    const first = owner.get(key);
    // SECURITY: where the keys are, never what they are.
    if (first) problems.push(`${where}: the same key as ${first} (a key belongs to one tenant)`);
    else owner.set(key, where);
  };
  inbound?.keys.forEach((k, i) => claim(k, `inbound.apiKeys (key ${i + 1})`));
  for (const t of tenants) t.keys.forEach((k, i) => claim(k, `tenants.${t.name}.keys (key ${i + 1})`));
}
