/**
 * Usage per tenant and upstream: requests by outcome, bytes each way, token fetches of the
 * tenant's own accounts, and refusals by its limits. Tenant and upstream names are the only
 * label values (both bounded by the config). SECURITY: never a key.
 */
import { Counter, type Registry } from 'prom-client';
import { FastCounter } from './fast-metrics.js';

export type TenantOutcome = '2xx' | '3xx' | '4xx' | '5xx' | 'aborted' | 'limited' | 'error';

export interface TenantMetrics {
  request(tenant: string, upstream: string, status: number, limited: boolean): void;
  bytes(tenant: string, upstream: string, inBytes: number, outBytes: number): void;
  tokenFetch(tenant: string, upstream: string, outcome: string): void;
  limited(tenant: string, upstream: string, reason: 'rate' | 'concurrency' | 'quota' | 'upstream_pause'): void;
}

export function outcomeOf(status: number, limited: boolean): TenantOutcome {
  if (limited) return 'limited';
  if (status === 499) return 'aborted';
  const c = Math.floor(status / 100);
  return c >= 2 && c <= 5 ? (`${c}xx` as TenantOutcome) : 'error';
}

export function createTenantMetrics(registry: Registry): TenantMetrics {
  // Per-request series: fast-metrics.ts closures, one per label set (no label hashing per call).
  const requests = new FastCounter('tokenrelay_tenant_requests_total', 'Requests per tenant and upstream, by outcome (2xx…5xx as answered, aborted, limited: refused by a tenant or upstream limit).', registry);
  const bytes = new FastCounter('tokenrelay_tenant_bytes_total', 'Body bytes per tenant and upstream: in (request bodies sent upstream), out (answer bodies relayed).', registry);
  const fetches = new Counter({
    name: 'tokenrelay_tenant_token_fetches_total',
    help: 'Token fetches of tenants\' own vendor accounts, by outcome.',
    labelNames: ['tenant', 'upstream', 'outcome'] as const,
    registers: [registry],
  });
  const limited = new Counter({
    name: 'tokenrelay_tenant_limited_total',
    help: 'Calls refused by a limit: the tenant\'s rate, concurrency or quota, or a vendor\'s pause (429 Retry-After).',
    labelNames: ['tenant', 'upstream', 'reason'] as const,
    registers: [registry],
  });
  /** Per tenant, then upstream: the series of one pair, made on first use (no key built per call). */
  const pairs = new Map<string, Map<string, { outcomes: Map<TenantOutcome, () => void>; in: (n: number) => void; out: (n: number) => void }>>();
  const pair = (tenant: string, upstream: string) => {
    let byUpstream = pairs.get(tenant);
    if (!byUpstream) pairs.set(tenant, (byUpstream = new Map()));
    let p = byUpstream.get(upstream);
    if (!p) {
      byUpstream.set(upstream, (p = {
        outcomes: new Map(),
        in: bytes.adder({ tenant, upstream, direction: 'in' }),
        out: bytes.adder({ tenant, upstream, direction: 'out' }),
      }));
    }
    return p;
  };
  return {
    request(tenant, upstream, status, isLimited) {
      const outcome = outcomeOf(status, isLimited);
      const p = pair(tenant, upstream);
      let inc = p.outcomes.get(outcome);
      if (!inc) p.outcomes.set(outcome, (inc = requests.child({ tenant, upstream, outcome })));
      inc();
    },
    bytes(tenant, upstream, inBytes, outBytes) {
      const p = pair(tenant, upstream);
      if (inBytes) p.in(inBytes);
      if (outBytes) p.out(outBytes);
    },
    tokenFetch(tenant, upstream, outcome) {
      fetches.inc({ tenant, upstream, outcome });
    },
    limited(tenant, upstream, reason) {
      limited.inc({ tenant, upstream, reason });
    },
  };
}
