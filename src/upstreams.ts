/** Builds each upstream's runtime once: its connection pool and its token source. */
import { Agent, connector, Pool, type Dispatcher } from './util/undici.js';
import type { UpstreamPlan } from './config/load.js';
import type { UpstreamRuntime } from './proxy/forwarder.js';
import type { Logger } from './telemetry/logger.js';
import { createLimiter } from './proxy/limiter.js';
import type { SharedTokenCache } from './tokens/shared-cache.js';
import type { Metrics } from './telemetry/metrics.js';
import { parseTokenAnswer } from './tokens/token-answer.js';
import { fetchTokenAnswer } from './tokens/token-client.js';
import { StaticToken } from './tokens/static-token.js';
import { TokenSource, type FetchEvent, type TokenProvider } from './tokens/token-cache.js';
import { createPacer } from './limits/pacing.js';
import type { Counters } from './limits/policy.js';
import type { Tracing } from './telemetry/tracing.js';
import type { Clock, TokenStore } from './tokens/token-store.js';

export interface UpstreamDeps {
  logger: Logger;
  metrics: Metrics;
  store: TokenStore;
  clock: Clock;
  limits: { maxConcurrentPerUpstream: number; maxQueuePerUpstream: number };
  shared?: SharedTokenCache | undefined;
  onSharedError?: (err: Error) => void;
  /** Where rate limits are counted (read per call: the fleet's Redis or this process). */
  counters: () => Counters;
  /** Traces token fetches; absent: tracing off. */
  tracing?: Tracing | undefined;
}

export type TokenDeps = Pick<UpstreamDeps, 'logger' | 'metrics' | 'store' | 'clock' | 'shared' | 'onSharedError' | 'tracing'> & { tokenDispatcher: Dispatcher };

/** A tenant's own token's key in this process's store (apart from the upstream's). */
export const tenantTokenKey = (upstream: string, tenant: string) => `${upstream}\u0000tenant:${tenant}`;

/**
 * The token provider for one vendor account of an upstream: the upstream's own, or a tenant's
 * (`tenant`: its own cache entry, its own single flight, its own scope in the fleet's cache,
 * so its token is never served to anyone else).
 */
export function createTokens(plan: UpstreamPlan, creds: Readonly<Record<string, string>>, deps: TokenDeps, tenant?: string): TokenProvider {
  const { logger, metrics, store, clock, shared, onSharedError, tokenDispatcher, tracing } = deps;
  const onFetch = (e: FetchEvent) => {
    if (tenant) metrics.tenants.tokenFetch(tenant, e.upstream, e.outcome);
    else metrics.tokenFetch(e);
    const base = { upstream: e.upstream, ...(tenant ? { tenant } : {}), event: 'token_fetch', reason: e.reason, outcome: e.outcome, durationMs: e.durationMs };
    if (e.outcome === 'success') {
      logger.info({ ...base, lifetimeSeconds: Math.round((e.lifetimeMs ?? 0) / 1000), lifetimeSource: e.lifetimeSource }, 'token fetched');
    } else {
      logger.warn({ ...base, code: e.error?.code, reason_detail: e.error?.message }, 'token fetch failed');
    }
  };
  if (plan.provider.static || !plan.tokenUrl) return new StaticToken(plan.name, creds.value ?? '');
  // A tenant's entry in this process's store and its scope in the fleet's: apart from the upstream's.
  const key = tenant ? tenantTokenKey(plan.name, tenant) : plan.name;
  return new TokenSource({
    upstream: plan.name,
    ...(tenant ? { tenant, key } : {}),
    ...(tracing ? { trace: (reason: string) => tracing.tokenFetch(plan.name, tenant, reason, plan.tokenUrl) } : {}),
    store,
    clock,
    onFetch,
    ...(shared ? { shared, scope: shared.scopeOf(tenant ? `${plan.name}/tenant/${tenant}` : plan.name, creds), ...(onSharedError ? { onSharedError } : {}) } : {}),
    timeoutMs: plan.tokenTimeoutMs,
    fetch: async (timeoutMs) => {
      const answer = await fetchTokenAnswer(plan.tokenUrl!, plan.provider.request, creds, {
        dispatcher: tokenDispatcher, timeoutMs,
      });
      return parseTokenAnswer(answer, plan.provider.response, {
        defaultLifetimeMs: plan.provider.defaultLifetimeMs, nowMs: clock.now(), secrets: Object.values(creds),
      });
    },
  });
}

export function createUpstream(plan: UpstreamPlan, { logger, metrics, store, clock, limits, shared, onSharedError, counters, tracing }: UpstreamDeps): UpstreamRuntime & { tokenDispatcher: Dispatcher; close(): Promise<void> } {
  const connect = connector(plan.ca ? { ca: plan.ca } : {});
  // Kept-alive, pooled connections per upstream; TLS certificates are verified (undici default).
  const pool = new Pool(plan.target.origin, {
    connect, keepAliveTimeout: 30_000, headersTimeout: plan.timeoutMs, bodyTimeout: plan.bodyTimeoutMs,
    connections: limits.maxConcurrentPerUpstream,
  });
  // Token fetches get their own connections: never queued behind long downloads or event
  // streams that hold every pooled connection.
  const tokenDispatcher: Dispatcher = new Agent({ connect, connections: 4 });
  const limiter = createLimiter({ max: limits.maxConcurrentPerUpstream, queue: limits.maxQueuePerUpstream, upstream: plan.name });
  const creds = plan.credentials;
  const tokens = creds ? createTokens(plan, creds, { logger, metrics, store, clock, shared, onSharedError, tokenDispatcher, tracing }) : undefined;
  const pacer = plan.rateLimit && createPacer({
    key: plan.name, rate: plan.rateLimit, counters, maxQueue: limits.maxQueuePerUpstream, upstream: plan.name,
  });
  return {
    plan,
    pool,
    tokens,
    limiter,
    pacer,
    tokenDispatcher,
    async close() {
      await Promise.all([pool.destroy(), tokenDispatcher.destroy()]);
    },
  };
}
