/**
 * One tokenrelay instance: the HTTP server(s), admin endpoints, access log and metrics around a
 * runtime built from the config (swapped on reload). Logger, metrics, clock and store come in
 * as arguments so tests drive them; nothing here touches `process`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createAdmin } from './ops/admin.js';
import type { RelayConfig } from './config/load.js';
import { TokenRelayError } from './util/errors.js';
import { sendError } from './proxy/respond.js';
import { createListener } from './proxy/listener.js';
import { createAccessLog, createLogger, type Logger } from './telemetry/logger.js';
import { createMetrics, type Metrics } from './telemetry/metrics.js';
import { removeOwnSpoolFiles, SpoolBudget } from './proxy/spool.js';
import { buildRuntime, retiredUpstreams, retireWhenIdle, type Runtime } from './runtime.js';
import type { SharedTokenCache } from './tokens/shared-cache.js';
import { memoryStore, systemClock, type Clock, type TokenStore } from './tokens/token-store.js';
import { keepTokens, type TokenKeeper } from './tokens/token-keeper.js';
import { createUpgradeHandler } from './proxy/websocket.js';
import { memoryCounters, type CountersHandle } from './limits/fleet.js';
import { Cooldowns } from './limits/pacing.js';
import { createRequestHandler } from './request.js';
import type { Tracing } from './telemetry/tracing.js';

export interface TokenRelayOptions {
  config: RelayConfig;
  logger?: Logger;
  metrics?: Metrics;
  clock?: Clock;
  store?: TokenStore;
  /** A token cache shared with other processes; default: built from `config.tokenCache`. */
  shared?: SharedTokenCache;
  /** Where tenant and upstream limits are counted (createCounters(): the fleet's Redis); default: this process. */
  counters?: CountersHandle;
  /** Traces (createTracing() from `config.tracing`); absent: tracing off. */
  tracing?: Tracing;
  /** Called as each request body, and each answer body that streams, starts, with its declared length (Infinity: unknown); the CLI gives V8 heap room then (ops/heap-room.ts). */
  onBody?: (bytes: number) => void;
}

export interface TokenRelay {
  server: Server;
  /** The admin server, when `admin.port` is set. */
  adminServer: Server | undefined;
  metrics: Metrics;
  /** Listens on `config.listen` (or the given port, 0 for any) and resolves with the address. */
  listen(port?: number, adminPort?: number): Promise<AddressInfo>;
  adminAddress(): AddressInfo | undefined;
  /** Applies a new config to new requests; in-flight ones finish on the old one. */
  reload(config: RelayConfig): void;
  /** Stops accepting, lets in-flight requests finish within the grace period, frees everything. */
  close(gracePeriodMs?: number): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export function createTokenRelay(options: TokenRelayOptions): TokenRelay {
  const {
    config: initial, logger = createLogger({ level: initial.logLevel }), metrics = createMetrics(),
    clock = systemClock, store = memoryStore(),
  } = options;
  if (initial.tokenCache.type !== 'memory' && !options.shared) {
    throw new Error('tokenCache.type redis: create the shared cache with createSharedCache() and pass it as `shared`');
  }
  const { shared } = options;
  let lastSharedWarn = 0;
  const onSharedError = (err: Error) => {
    // Falling back is logged at most once a minute; the state change itself is logged by the cache.
    if (Date.now() - lastSharedWarn < 60_000) return;
    lastSharedWarn = Date.now();
    logger.warn({ event: 'token_cache_fallback', reason: err.message }, 'shared token cache unusable: using this process\'s own token');
  };
  const counters = options.counters ?? memoryCounters(() => clock.now());
  const cooldowns = new Cooldowns(() => clock.now());
  const { tracing, onBody } = options;
  const deps = { logger, metrics, clock, store, shared, onSharedError, spool: new SpoolBudget(initial.replay.maxSpoolBytes), counters: () => counters, cooldowns, tracing, onBody };
  const accessLog = createAccessLog(logger);
  let rt: Runtime = buildRuntime(initial, deps);
  const retiring = new Set<Promise<void>>();
  metrics.watchTokens(() => rt.upstreams.flatMap((u) => (u.tokens ? [u.tokens] : [])));
  metrics.watchInflight(() => rt.upstreams.map((u) => ({ upstream: u.plan.name, active: u.limiter.active })));
  metrics.watchSpool(() => ({ inFlight: deps.spool.used - deps.spool.pool.heldBytes, idle: deps.spool.pool.heldBytes, max: deps.spool.max }));
  let listening = false;
  let shuttingDown = false;
  const admin = createAdmin({
    runtime: () => rt, metrics, state: () => ({ listening, shuttingDown }), tokenCache: () => shared?.status() ?? { type: 'memory', state: 'up' },
    quota: (spec) => counters.quota(spec), limits: () => counters.status(),
  });

  const handle = createRequestHandler({
    runtime: () => rt, logger, metrics, accessLog, counters, shuttingDown: () => shuttingDown, tracing,
    admin: (path, method, res, detailed) => !rt.config.admin && admin(path, method, res, detailed),
  });

  const server = createListener(initial, (req, res) => handle(req, res), { logger, onDrop: () => metrics.connectionRefused() });
  // Expect: 100-continue is answered here, after the checks (Node would send 100 at once).
  server.on('checkContinue', (req, res) => handle(req, res, true));
  const adminServer = initial.admin
    ? createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (!admin(path, req.method ?? 'GET', res)) sendError(res, new TokenRelayError('ROUTE_NOT_FOUND', 'admin endpoints: /healthz, /readyz, /metrics'));
    })
    : undefined;
  const upgraded = new Set<Duplex>();
  const onUpgrade = createUpgradeHandler({ runtime: () => rt, logger, sockets: upgraded, counters: () => counters });
  server.on('upgrade', (req, socket, head) => void onUpgrade(req, socket, head));
  // CONNECT would make tokenrelay a tunnel to anywhere: refused.
  server.on('connect', (_req, socket) => {
    socket.end(new TokenRelayError('METHOD_NOT_ALLOWED', 'CONNECT is not proxied').toRawResponse());
  });

  // readiness.requireTokens: every token fetched now and kept in hand (retried with backoff,
  // refreshed ahead) without traffic, so /readyz turns ready by itself and stays so.
  let keeper: TokenKeeper | undefined;
  function keepTokensIf(on: boolean): void {
    if (on && !keeper) keeper = keepTokens(function* () {
      for (const u of rt.upstreams) if (u.tokens) yield u.tokens;
      for (const t of rt.tenants.values()) for (const p of t.own.values()) if (p) yield p;
    });
    else if (!on && keeper) {
      keeper.stop();
      keeper = undefined;
    }
  }

  async function closeServer(s: Server, gracePeriodMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()));
    s.closeIdleConnections();
    // Kept-alive connections that finish their last response become idle: close them as they do.
    const sweep = setInterval(() => s.closeIdleConnections(), 100);
    sweep.unref();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        logger.warn({ event: 'shutdown_grace_expired' }, 'grace period over, closing remaining connections');
        s.closeAllConnections();
        resolve();
      }, gracePeriodMs);
      timer.unref();
    });
    await Promise.race([closed, grace]);
    clearTimeout(timer);
    clearInterval(sweep);
  }

  return {
    server,
    adminServer,
    metrics,
    async listen(port = initial.listen.port, adminPort = initial.admin?.port) {
      const addr = await listenOn(server, port, initial.listen.host);
      if (adminServer && initial.admin) {
        const a = await listenOn(adminServer, adminPort ?? 0, initial.admin.host);
        logger.info({ event: 'admin_listening', host: a.address, port: a.port }, 'admin endpoints listening');
      }
      listening = true;
      logger.info({ event: 'listening', host: addr.address, port: addr.port }, 'tokenrelay listening');
      if (!isLoopback(initial.listen.host) && !rt.config.inbound) {
        logger.warn({ event: 'open_listener', host: initial.listen.host }, 'listening beyond loopback without inbound authentication: anyone who can reach this port can use the vendor credentials (set inbound.apiKeys)');
      }
      keepTokensIf(rt.config.readiness.requireTokens);
      return addr;
    },
    adminAddress: () => (adminServer?.listening ? (adminServer.address() as AddressInfo) : undefined),
    reload(config) {
      const old = rt;
      rt = buildRuntime(config, deps, old);
      for (const u of retiredUpstreams(old, rt)) {
        const p = retireWhenIdle(u).finally(() => retiring.delete(p));
        retiring.add(p);
      }
      const restart = ['listen', 'admin', 'limits', 'tokenCache'].filter((k) => JSON.stringify(old.config[k as keyof RelayConfig]) !== JSON.stringify(config[k as keyof RelayConfig]));
      if (restart.length) logger.warn({ event: 'reload_partial', keys: restart }, `changes to ${restart.join(', ')} need a restart to apply to the listener`);
      logger.info({ event: 'reloaded', upstreams: rt.upstreams.map((u) => u.plan.name) }, 'configuration reloaded');
      if (listening) keepTokensIf(config.readiness.requireTokens);
    },
    async close(gracePeriodMs = rt.config.gracePeriodMs) {
      shuttingDown = true;
      keepTokensIf(false);
      // Open WebSockets end with the grace period: they have no "last response" to wait for.
      const wsGrace = setTimeout(() => {
        for (const s of upgraded) s.destroy();
      }, gracePeriodMs);
      wsGrace.unref();
      await closeServer(server, gracePeriodMs);
      clearTimeout(wsGrace);
      for (const s of upgraded) s.destroy();
      if (adminServer) await closeServer(adminServer, 100);
      listening = false;
      await Promise.all([...rt.upstreams.map((u) => u.close()), ...retiring]);
      // Requests cut by the grace period release their copies as they unwind; whatever is left
      // of this process's spool goes now, before it exits.
      removeOwnSpoolFiles(rt.config.replay.spoolDir);
      deps.spool.pool.close();
      store.close();
      counters.close();
      await shared?.close();
      // What is batched goes to the collector before the process exits (bounded: 3 s).
      await tracing?.shutdown();
    },
  };
}
