/** `/healthz`, `/readyz` and `/metrics`. Answers never include a token or a secret. */
import type { ServerResponse } from 'node:http';
import type { Metrics } from '../telemetry/metrics.js';
import type { RelayConfig, TenantPlan, UpstreamPlan } from '../config/types.js';
import type { LimitSpec, QuotaView } from '../limits/policy.js';
import type { TokenProvider } from '../tokens/token-cache.js';

/** What the admin endpoints read of a tenant. */
export interface TenantView {
  plan: TenantPlan;
  spec: LimitSpec | undefined;
  own: ReadonlyMap<string, TokenProvider | undefined>;
}

/** What the admin endpoints read of the running config (the app's Runtime has it). */
export interface AdminView {
  config: Pick<RelayConfig, 'readiness'>;
  upstreams: ReadonlyArray<{ plan: UpstreamPlan; tokens: TokenProvider | undefined }>;
  tenants?: ReadonlyMap<string, TenantView>;
}

const UNAVAILABLE = { state: 'unavailable', expiresInSeconds: null, lastError: null } as const;

export function createAdmin({ runtime, metrics, state, tokenCache, quota = () => undefined, limits }: {
  /** What is known of a tenant's quota (the last count seen). */
  quota?: (spec: LimitSpec) => QuotaView | undefined;
  /** Where limits are counted (memory, or redis up/down). */
  limits?: () => { type: string; state: string };
  runtime: () => AdminView;
  metrics: Metrics;
  state: () => { listening: boolean; shuttingDown: boolean };
  /** Shown, not judged: a shared cache that is down degrades to memory, it does not stop service. */
  tokenCache: () => { type: string; state: string };
}) {
  function json(res: ServerResponse, status: number, body: unknown) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  }

  /**
   * Ready: listening and not draining; with `readiness.requireTokens`, also every configured
   * upstream holds a valid token (one without usable credentials holds readiness: to serve
   * without an upstream, leave it out of the config).
   */
  function readiness() {
    const { listening, shuttingDown } = state();
    const { upstreams, config } = runtime();
    const { requireTokens } = config.readiness;
    // Each token's state read once; no credentials: nothing can be fetched.
    const states = upstreams.map(({ plan, tokens }) => ({ plan, token: tokens ? tokens.status() : UNAVAILABLE }));
    const tenants = [...(runtime().tenants?.values() ?? [])].map((t) => ({
      t, own: [...t.own].map(([upstream, tokens]) => ({ upstream, token: tokens ? tokens.status() : UNAVAILABLE })),
    }));
    const waiting = requireTokens ? states.filter((s) => s.token.state !== 'valid') : [];
    const tenantsWaiting = requireTokens ? tenants.flatMap(({ t, own }) => own.filter((o) => o.token.state !== 'valid').map((o) => ({
      upstream: o.upstream, tenant: t.plan.name,
      reason: t.plan.credentials[o.upstream]?.values ? (o.token.lastError?.code ?? 'fetching') : `credentials missing: ${t.plan.credentials[o.upstream]?.missing.join(', ')}`,
    }))) : [];
    const ready = listening && !shuttingDown && waiting.length === 0 && tenantsWaiting.length === 0;
    return {
      status: ready ? 200 : 503,
      body: {
        status: shuttingDown ? 'shutting_down' : ready ? 'ready' : listening ? 'waiting_for_tokens' : 'starting',
        // SECURITY: names and reasons (unset variable, empty file, EACCES), never values.
        ...(ready ? {} : { waitingFor: waiting.map(({ plan, token }) => ({
          upstream: plan.name,
          reason: plan.credentials ? (token.lastError?.code ?? 'fetching') : `credentials missing: ${plan.missing.join(', ')}`,
        })).concat(tenantsWaiting) }),
        requireTokens,
        tokenCache: tokenCache(),
        upstreams: Object.fromEntries(states.map(({ plan, token }) => [plan.name, {
          prefix: plan.prefix,
          target: plan.target.origin,
          auth: plan.provider.type,
          credentials: plan.credentials ? 'present' : 'missing',
          ...(plan.credentials ? {} : { missing: plan.missing }),
          token,
        }])),
        ...(tenants.length ? { limits: limits?.() ?? { type: 'memory', state: 'up' } } : {}),
        // SECURITY: names, limits and counts only; a tenant's keys never.
        ...(tenants.length ? { tenants: Object.fromEntries(tenants.map(({ t, own }) => [t.plan.name, {
          upstreams: t.plan.upstreams ?? 'all',
          accounts: Object.fromEntries(own.map((o) => [o.upstream, { credentials: t.plan.credentials[o.upstream]?.values ? 'present' : 'missing', token: o.token }])),
          limits: {
            ...(t.plan.limits.rate ? { requestsPerSecond: t.plan.limits.rate.perSecond, burst: t.plan.limits.rate.burst } : {}),
            ...(t.plan.limits.concurrent !== undefined ? { concurrent: t.plan.limits.concurrent } : {}),
          },
          ...(t.spec?.quota ? { quota: quota(t.spec) } : {}),
        }])) } : {}),
      },
    };
  }

  /**
   * Handles an admin path; false when `path` is not one. `detailed: false` (the app port, inbound
   * keys on, no valid key presented): /readyz says its status alone and /metrics is refused.
   */
  return function admin(path: string, method: string, res: ServerResponse, detailed = true): boolean {
    if (path !== '/healthz' && path !== '/readyz' && path !== '/metrics') return false;
    if (method !== 'GET' && method !== 'HEAD') {
      json(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET', upstream: null } });
      return true;
    }
    if (path === '/healthz') json(res, 200, { status: 'ok' });
    else if (path === '/readyz') {
      const r = readiness();
      // SECURITY: targets, credential states and vendor messages only for those with a key.
      json(res, r.status, detailed ? r.body : { status: r.body.status });
    } else if (!detailed) {
      json(res, 401, { error: { code: 'INBOUND_UNAUTHORIZED', message: 'a valid tokenrelay key is required for /metrics', upstream: null } });
    } else {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        () => json(res, 500, { error: { code: 'INTERNAL', message: 'metrics collection failed', upstream: null } }),
      );
    }
    return true;
  };
}
