/**
 * Usage per tenant and upstream: requests by outcome, bytes each way, token fetches of the
 * tenant's own accounts, and refusals by its limits. Tenant and upstream names are the only
 * label values (both bounded by the config). SECURITY: never a key.
 */
import { Counter, type Registry } from 'prom-client';

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
  const requests = new Counter({
    name: 'tokenrelay_tenant_requests_total',
    help: 'Requests per tenant and upstream, by outcome (2xx…5xx as answered, aborted, limited: refused by a tenant or upstream limit).',
    labelNames: ['tenant', 'upstream', 'outcome'] as const,
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'tokenrelay_tenant_bytes_total',
    help: 'Body bytes per tenant and upstream: in (request bodies sent upstream), out (answer bodies relayed).',
    labelNames: ['tenant', 'upstream', 'direction'] as const,
    registers: [registry],
  });
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
  return {
    request(tenant, upstream, status, isLimited) {
      requests.inc({ tenant, upstream, outcome: outcomeOf(status, isLimited) });
    },
    bytes(tenant, upstream, inBytes, outBytes) {
      if (inBytes) bytes.inc({ tenant, upstream, direction: 'in' }, inBytes);
      if (outBytes) bytes.inc({ tenant, upstream, direction: 'out' }, outBytes);
    },
    tokenFetch(tenant, upstream, outcome) {
      fetches.inc({ tenant, upstream, outcome });
    },
    limited(tenant, upstream, reason) {
      limited.inc({ tenant, upstream, reason });
    },
  };
}
