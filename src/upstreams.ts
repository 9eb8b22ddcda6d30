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
import { TokenSource, type FetchEvent } from './tokens/token-cache.js';
import type { Clock, TokenStore } from './tokens/token-store.js';

export interface UpstreamDeps {
  logger: Logger;
  metrics: Metrics;
  store: TokenStore;
  clock: Clock;
  limits: { maxConcurrentPerUpstream: number; maxQueuePerUpstream: number };
  shared?: SharedTokenCache | undefined;
  onSharedError?: (err: Error) => void;
}

export function createUpstream(plan: UpstreamPlan, { logger, metrics, store, clock, limits, shared, onSharedError }: UpstreamDeps): UpstreamRuntime & { close(): Promise<void> } {
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
  const onFetch = (e: FetchEvent) => {
    metrics.tokenFetch(e);
    const base = { upstream: e.upstream, event: 'token_fetch', reason: e.reason, outcome: e.outcome, durationMs: e.durationMs };
    if (e.outcome === 'success') {
      logger.info({ ...base, lifetimeSeconds: Math.round((e.lifetimeMs ?? 0) / 1000), lifetimeSource: e.lifetimeSource }, 'token fetched');
    } else {
      logger.warn({ ...base, code: e.error?.code, reason_detail: e.error?.message }, 'token fetch failed');
    }
  };
  const tokens = !creds ? undefined : plan.provider.static || !plan.tokenUrl ? new StaticToken(plan.name, creds.value ?? '') : new TokenSource({
        upstream: plan.name,
        store,
        clock,
        onFetch,
        ...(shared ? { shared, scope: shared.scopeOf(plan.name, creds), ...(onSharedError ? { onSharedError } : {}) } : {}),
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
  return {
    plan,
    pool,
    tokens,
    limiter,
    async close() {
      await Promise.all([pool.destroy(), tokenDispatcher.destroy()]);
    },
  };
}
