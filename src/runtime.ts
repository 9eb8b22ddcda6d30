/**
 * Everything derived from one config: upstream runtimes, router, forwarder, inbound check.
 * A reload builds a new runtime, reusing each upstream whose plan did not change (its pool and
 * its cached token), and retires the rest once their in-flight requests are done.
 */
import { createHash } from 'node:crypto';
import type { RelayConfig, UpstreamPlan } from './config/load.js';
import { createForwarder, type UpstreamRuntime } from './proxy/forwarder.js';
import { createInboundCheck } from './proxy/guard.js';
import type { Logger } from './telemetry/logger.js';
import type { Metrics } from './telemetry/metrics.js';
import { prepareSpoolDir, SpoolBudget } from './proxy/spool.js';
import { createRouter } from './proxy/router.js';
import type { SharedTokenCache } from './tokens/shared-cache.js';
import type { Clock, TokenStore } from './tokens/token-store.js';
import { createTrust } from './util/trust.js';
import { createUpstream } from './upstreams.js';
import { buildTenants, type LiveTenant } from './tenants.js';
import type { Counters } from './limits/policy.js';
import type { Cooldowns } from './limits/pacing.js';
import type { Dispatcher } from './util/undici.js';
import type { Tracing } from './telemetry/tracing.js';

export type LiveUpstream = UpstreamRuntime & { prefix: string; fingerprint: string; credentialsDigest: string; tokenDispatcher: Dispatcher; close(): Promise<void> };

export interface Runtime {
  config: RelayConfig;
  upstreams: LiveUpstream[];
  route: ReturnType<typeof createRouter<LiveUpstream>>;
  forward: ReturnType<typeof createForwarder>;
  inboundCheck: ReturnType<typeof createInboundCheck>;
  /** Peers whose forwarding headers are kept (trustForwardedFrom). */
  trusted: ReturnType<typeof createTrust>;
  tenants: Map<string, LiveTenant>;
}

export interface RuntimeDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  store: TokenStore;
  shared?: SharedTokenCache | undefined;
  onSharedError?: (err: Error) => void;
  /** The spool budget of the process, kept across reloads (its bound follows the config). */
  spool?: SpoolBudget;
  /** Where limits are counted (this process, or the fleet's Redis); outlives a reload. */
  counters: () => Counters;
  /** Vendors' pauses (429 Retry-After) per credential; outlives a reload. */
  cooldowns: Cooldowns;
  /** Traces; absent: tracing off. */
  tracing?: Tracing | undefined;
  /** Called as each request or streamed answer body starts, with its declared length; outlives a reload. */
  onBody?: ((bytes: number) => void) | undefined;
}

const digest = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');

/** Identity of an upstream's plan, secrets included (as a digest: never kept in clear here). */
function fingerprint(plan: UpstreamPlan, limits: RelayConfig['limits']): string {
  return digest({ ...plan, target: plan.target.href, tokenUrl: plan.tokenUrl?.href, limits });
}

export function buildRuntime(config: RelayConfig, deps: RuntimeDeps, previous?: Runtime): Runtime {
  const { logger, metrics, store, clock, shared, onSharedError, counters, cooldowns, tracing } = deps;
  const reused = new Map(previous?.upstreams.map((u) => [u.plan.name, u]));
  const upstreams = config.upstreams.map((plan): LiveUpstream => {
    const fp = fingerprint(plan, config.limits);
    const credentialsDigest = digest(plan.credentials ?? null);
    const old = reused.get(plan.name);
    if (old && old.fingerprint === fp) return old;
    // SECURITY: credentials changed: the token obtained with the old ones must not serve on.
    if (old && old.credentialsDigest !== credentialsDigest) store.del(plan.name);
    const up = createUpstream(plan, { logger, metrics, store, clock, limits: config.limits, shared, counters, tracing, ...(onSharedError ? { onSharedError } : {}) });
    return Object.assign(up, { prefix: plan.prefix, fingerprint: fp, credentialsDigest });
  });
  const spool = deps.spool ?? new SpoolBudget(config.replay.maxSpoolBytes);
  spool.max = config.replay.maxSpoolBytes;
  const forward = createForwarder({
    logger, metrics, replay: config.replay, spool, cooldowns, onBody: deps.onBody, trusted: createTrust(config.trustForwardedFrom), clientBodyTimeoutMs: config.limits.clientBodyTimeout, inspectBytes: config.limits.inspectBytes, maxBodyBytes: config.limits.maxBodyBytes,
    ...(config.inbound ? { dropHeader: config.inbound.header } : {}),
  });
  try {
    const removed = prepareSpoolDir(config.replay.spoolDir);
    if (removed) logger.info({ event: 'spool_cleanup', removed, dir: config.replay.spoolDir }, 'removed spool files left by a stopped process');
  } catch (err) {
    logger.warn({ event: 'spool_unavailable', dir: config.replay.spoolDir, code: (err as NodeJS.ErrnoException).code }, 'spool directory unusable: bodies over replay.memoryBytes will not be resent');
  }
  if (config.inbound) {
    if (config.inbound.missing.length) logger.warn({ missing: config.inbound.missing }, 'some inbound keys are not set');
    if (!config.inbound.keys.length && !config.tenants.some((t) => t.keys.length)) logger.error({ event: 'inbound_no_keys' }, 'inbound authentication is on but no key is set: every proxied request is refused');
  }
  for (const u of upstreams) {
    if (reused.get(u.plan.name) === u) continue;
    const { plan } = u;
    const base = { upstream: plan.name, prefix: plan.prefix, target: plan.target.origin, auth: plan.provider.type, credentialsPresent: plan.present };
    if (plan.credentials) logger.info(base, 'upstream configured');
    // SECURITY: names the missing variable or file, never a value.
    else logger.warn({ ...base, missing: plan.missing }, `upstream ${plan.name} disabled until its credentials are set: ${plan.missing.join(', ')}`);
  }
  const trusted = createTrust(config.trustForwardedFrom);
  const tenants = buildTenants(config, upstreams, { logger, metrics, store, clock, shared, tracing, ...(onSharedError ? { onSharedError } : {}) }, previous?.tenants);
  if (tenants.size) logger.info({ event: 'tenants', tenants: [...tenants.keys()] }, 'tenants configured');
  return { config, upstreams, route: createRouter(upstreams), forward, inboundCheck: createInboundCheck(config.inbound, config.tenants), trusted, tenants };
}

/** Upstreams of `old` that `next` no longer uses. */
export function retiredUpstreams(old: Runtime, next: Runtime): LiveUpstream[] {
  const kept = new Set(next.upstreams);
  return old.upstreams.filter((u) => !kept.has(u));
}

/** Closes an upstream once nothing is in flight on it (in-flight requests are never cut). */
export function retireWhenIdle(u: LiveUpstream, pollMs = 200): Promise<void> {
  return new Promise((resolve) => {
    const tick = () => {
      if (u.limiter.active === 0 && u.limiter.waiting === 0) return void u.close().finally(resolve);
      setTimeout(tick, pollMs).unref();
    };
    tick();
  });
}
