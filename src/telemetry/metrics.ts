/**
 * Prometheus metrics (prom-client), one registry per running instance. Labels are upstream
 * names, status codes and outcomes only. SECURITY: never a token, secret or path in a label.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.js';
import { createTenantMetrics, type TenantMetrics } from './tenant-metrics.js';

/** What a token fetch reports (tokens/token-cache.ts's FetchEvent has these fields and more). */
export interface FetchReport {
  upstream: string;
  outcome: string;
  reason: string;
}

/** What a token source shows the expiry gauge (any TokenProvider). */
export interface TokenGaugeSource {
  readonly upstream: string;
  status(): { expiresInSeconds: number | null };
}

export interface Metrics {
  registry: Registry;
  /** Usage per tenant and upstream. */
  tenants: TenantMetrics;
  request(upstream: string, status: number, seconds: number): void;
  upstreamLatency(upstream: string, seconds: number): void;
  tokenFetch(event: FetchReport): void;
  retry(upstream: string, outcome: 'success' | 'expired_again' | 'not_replayable' | 'token_failed' | 'error'): void;
  watchTokens(sources: () => readonly TokenGaugeSource[]): void;
  /** In-flight requests per upstream, read at scrape time (no per-request cost). */
  watchInflight(read: () => Array<{ upstream: string; active: number }>): void;
  /** The spool budget, read at scrape time: bytes of bodies in flight, of files kept for the next body, and the bound. */
  watchSpool(read: () => { inFlight: number; idle: number; max: number }): void;
  sharedCacheUp(up: boolean): void;
  /** A client connection closed at once: limits.maxConnections reached. */
  connectionRefused(): void;
  /** A call paced by an upstream's rateLimit waited this long (seconds). */
  paced(upstream: string, seconds: number): void;
  /** Spans the collector did not take (dropped, never retried into a request's path). */
  spansDropped(n: number): void;
}

export function createMetrics({ defaultMetrics = true }: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'tokenrelay_' });

  // The three per-request series use fast-metrics.ts (no label hashing per request).
  const requests = new FastCounter('tokenrelay_requests_total', 'Requests answered, by upstream, HTTP status and status class.', registry);
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const duration = new FastHistogram('tokenrelay_request_duration_seconds', 'Time from request to response end, as the client saw it.', registry, buckets);
  const latency = new FastHistogram('tokenrelay_upstream_latency_seconds', 'Time until the upstream sent response headers, per attempt.', registry, buckets);
  const fetches = new Counter({
    name: 'tokenrelay_token_fetches_total',
    help: 'Token fetches, by upstream, outcome (success|failure) and reason (cold|ahead|expired).',
    labelNames: ['upstream', 'outcome', 'reason'] as const,
    registers: [registry],
  });
  // Registered on first report: a memory-only cache has nothing to report.
  let sharedUp: Gauge | undefined;
  let dropped: Counter | undefined;
  const retries = new Counter({
    name: 'tokenrelay_expired_retries_total',
    help: 'Expired-token answers and what the single retry came to.',
    labelNames: ['upstream', 'outcome'] as const,
    registers: [registry],
  });

  const refused = new Counter({
    name: 'tokenrelay_connections_refused_total',
    help: 'Client connections closed at once because limits.maxConnections were open.',
    registers: [registry],
  });

  const pacedWait = new Histogram({
    name: 'tokenrelay_upstream_paced_seconds',
    help: 'Time calls waited for their slot under an upstream\'s rateLimit.',
    labelNames: ['upstream'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const requestChildren = new Map<string, () => void>();
  const durationChildren = new Map<string, (v: number) => void>();
  const latencyChildren = new Map<string, (v: number) => void>();

  return {
    registry,
    tenants: createTenantMetrics(registry),
    request(upstream, status, seconds) {
      const key = `${upstream}|${status}`;
      let inc = requestChildren.get(key);
      if (!inc) requestChildren.set(key, (inc = requests.child({ upstream, status: String(status), status_class: `${Math.floor(status / 100)}xx` })));
      inc();
      let d = durationChildren.get(upstream);
      if (!d) durationChildren.set(upstream, (d = duration.child({ upstream })));
      d(seconds);
    },
    upstreamLatency(upstream, seconds) {
      let h = latencyChildren.get(upstream);
      if (!h) latencyChildren.set(upstream, (h = latency.child({ upstream })));
      h(seconds);
    },
    watchInflight(read) {
      new Gauge({
        name: 'tokenrelay_inflight_requests',
        help: 'Requests holding an upstream slot now (being proxied).',
        labelNames: ['upstream'] as const,
        registers: [registry],
        collect() {
          this.reset();
          for (const { upstream, active } of read()) this.set({ upstream }, active);
        },
      });
    },
    watchSpool(read) {
      new Gauge({
        name: 'tokenrelay_spool_bytes',
        help: 'Bytes held in the spool budget (replay.maxSpoolBytes): state in_flight (bodies being copied or resent) or idle (files kept open for the next body, given up when one needs them).',
        labelNames: ['state'] as const,
        registers: [registry],
        collect() {
          const { inFlight, idle } = read();
          this.set({ state: 'in_flight' }, inFlight);
          this.set({ state: 'idle' }, idle);
        },
      });
      new Gauge({
        name: 'tokenrelay_spool_limit_bytes',
        help: 'replay.maxSpoolBytes: the bound on tokenrelay_spool_bytes.',
        registers: [registry],
        collect() {
          this.set(read().max);
        },
      });
    },
    tokenFetch(e) {
      fetches.inc({ upstream: e.upstream, outcome: e.outcome, reason: e.reason });
    },
    sharedCacheUp(up) {
      sharedUp ??= new Gauge({
        name: 'tokenrelay_token_cache_up',
        help: '1 while the shared token cache (redis) is reachable, 0 while tokenrelay falls back to memory.',
        registers: [registry],
      });
      sharedUp.set(up ? 1 : 0);
    },
    connectionRefused() {
      refused.inc();
    },
    paced(upstream, seconds) {
      pacedWait.observe({ upstream }, seconds);
    },
    spansDropped(n) {
      dropped ??= new Counter({
        name: 'tokenrelay_trace_spans_dropped_total',
        help: 'Spans dropped because the collector did not take them (tracing never slows a request).',
        registers: [registry],
      });
      dropped.inc(n);
    },
    retry(upstream, outcome) {
      retries.inc({ upstream, outcome });
    },
    watchTokens(sources) {
      new Gauge({
        name: 'tokenrelay_token_expiry_seconds',
        help: 'Seconds until the cached token of each upstream stops being served (absent: no token).',
        labelNames: ['upstream'] as const,
        registers: [registry],
        collect() {
          this.reset();
          for (const s of sources()) {
            const st = s.status();
            if (st.expiresInSeconds !== null) this.set({ upstream: s.upstream }, st.expiresInSeconds);
          }
        },
      });
    },
  };
}
