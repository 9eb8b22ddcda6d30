/**
 * Wires one tokenrelay instance: config plan → upstream runtimes → router → HTTP server with
 * admin endpoints, access log and metrics. Logger, metrics, clock and store come in as
 * arguments so tests drive them; nothing here touches `process`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdmin } from './admin.js';
import type { RelayConfig } from './config.js';
import { TokenRelayError } from './errors.js';
import { createForwarder, upstreamError, type RequestContext } from './forwarder.js';
import { checkTarget, createInboundCheck, isAllowed } from './guard.js';
import { prepareSpoolDir } from './replay.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createRouter } from './router.js';
import { memoryStore, systemClock, type Clock, type TokenStore } from './token-cache.js';
import { createUpstream } from './upstreams.js';

export interface TokenRelayOptions {
  config: RelayConfig;
  logger?: Logger;
  metrics?: Metrics;
  clock?: Clock;
  store?: TokenStore;
}

export interface TokenRelay {
  server: Server;
  metrics: Metrics;
  /** Listens on `config.listen` (or the given port, 0 for any) and resolves with the address. */
  listen(port?: number): Promise<AddressInfo>;
  /** Stops accepting, lets in-flight requests finish within the grace period, frees everything. */
  close(gracePeriodMs?: number): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function sendError(res: ServerResponse, err: TokenRelayError): void {
  const body = err.toBody();
  res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function createTokenRelay(options: TokenRelayOptions): TokenRelay {
  const {
    config, logger = createLogger({ level: config.logLevel }), metrics = createMetrics(),
    clock = systemClock, store = memoryStore(),
  } = options;
  const upstreams = config.upstreams.map((plan) => createUpstream(plan, { logger, metrics, store, clock, limits: config.limits }));
  metrics.watchTokens(upstreams.flatMap((u) => (u.tokens ? [u.tokens] : [])));
  const route = createRouter(upstreams.map((u) => Object.assign(u, { prefix: u.plan.prefix })));
  const forward = createForwarder({
    logger, metrics, replay: config.replay, inspectBytes: config.limits.inspectBytes, maxBodyBytes: config.limits.maxBodyBytes,
    ...(config.inbound ? { dropHeader: config.inbound.header } : {}),
  });
  const inboundCheck = createInboundCheck(config.inbound);
  try {
    const removed = prepareSpoolDir(config.replay.spoolDir);
    if (removed) logger.info({ event: 'spool_cleanup', removed, dir: config.replay.spoolDir }, 'removed spool files left by a stopped process');
  } catch (err) {
    logger.warn({ event: 'spool_unavailable', dir: config.replay.spoolDir, code: (err as NodeJS.ErrnoException).code }, 'spool directory unusable: bodies over replay.memoryBytes will not be resent');
  }
  if (config.inbound) {
    if (config.inbound.missing.length) logger.warn({ missing: config.inbound.missing }, 'some inbound keys are not set');
    if (!config.inbound.keys.length) logger.error({ event: 'inbound_no_keys' }, 'inbound authentication is on but no key is set: every proxied request is refused');
  }
  let listening = false;
  let shuttingDown = false;
  const admin = createAdmin({ upstreams, metrics, state: () => ({ listening, shuttingDown }) });

  for (const u of upstreams) {
    const { plan } = u;
    const base = { upstream: plan.name, prefix: plan.prefix, target: plan.target.origin, auth: plan.provider.type, credentialsPresent: plan.present };
    if (plan.credentials) logger.info(base, 'upstream configured');
    // SECURITY: names the missing variable or file, never a value.
    else logger.warn({ ...base, missing: plan.missing }, `upstream ${plan.name} disabled until its credentials are set: ${plan.missing.join(', ')}`);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (shuttingDown) res.shouldKeepAlive = false;
    const bad = checkTarget(req);
    if (bad) return sendError(res, bad);
    if (admin(path, req.method ?? 'GET', res)) return;
    const denied = inboundCheck?.(req);
    if (denied) return sendError(res, denied);
    const matched = route(url);
    if (!matched) return sendError(res, new TokenRelayError('ROUTE_NOT_FOUND', `no upstream is configured for ${JSON.stringify(path.slice(0, 200))}`));
    const up = matched.upstream;
    if (!isAllowed(up.plan, req.method ?? 'GET', matched.rest)) {
      return sendError(res, new TokenRelayError('NOT_ALLOWED', `${req.method} ${path.slice(0, 200)} is not on the allow-list`, { upstream: up.plan.name }));
    }

    const name = up.plan.name;
    const started = performance.now();
    const ctx: RequestContext = { retried: false };
    metrics.inflight(name, 1);
    res.on('close', () => {
      metrics.inflight(name, -1);
      const status = res.writableFinished ? (ctx.status ?? res.statusCode) : 499;
      const seconds = (performance.now() - started) / 1000;
      metrics.request(name, status, seconds);
      // SECURITY: the path without its query (queries can carry keys); no header values.
      logger.info({
        upstream: name, method: req.method, path, status, durationMs: Math.round(seconds * 1e4) / 10,
        retried: ctx.retried, ...(ctx.errorCode ? { code: ctx.errorCode } : {}),
      }, 'request');
    });
    forward(req, res, up, matched.rest, ctx).catch((err: unknown) => {
      if (res.destroyed || (res.writableEnded && !res.headersSent)) return; // client already gone
      const coded = upstreamError(err, name);
      logger.debug({ upstream: name, code: coded.code, cause: (err as { code?: string }).code }, 'request failed');
      ctx.errorCode = coded.code;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (coded.code === 'UPSTREAM_UNREACHABLE') logger.warn({ upstream: name, code: coded.code, detail: coded.message }, 'upstream error');
      ctx.status = coded.status;
      // The client may still be sending a body we will not read: don't reuse the connection.
      if (coded.code === 'BODY_TOO_LARGE' || !req.complete) res.shouldKeepAlive = false;
      if (coded.code === 'OVERLOADED') res.setHeader('retry-after', '1');
      sendError(res, coded);
    });
  }

  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 5_000, maxHeaderSize: config.limits.maxHeaderBytes }, handle);
  // CONNECT would make tokenrelay a tunnel to anywhere: refused.
  server.on('connect', (_req, socket) => {
    const body = new TokenRelayError('METHOD_NOT_ALLOWED', 'CONNECT is not proxied').toBody();
    socket.end(`HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({ error: { code: status === 431 ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST', message: 'malformed request', upstream: null } });
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });

  return {
    server,
    metrics,
    listen(port = config.listen.port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, config.listen.host, () => {
          server.off('error', reject);
          listening = true;
          const addr = server.address() as AddressInfo;
          logger.info({ event: 'listening', host: addr.address, port: addr.port }, 'tokenrelay listening');
          if (!isLoopback(config.listen.host) && !config.inbound) {
            logger.warn({ event: 'open_listener', host: config.listen.host }, 'listening beyond loopback without inbound authentication: anyone who can reach this port can use the vendor credentials (set inbound.apiKeys)');
          }
          resolve(addr);
        });
      });
    },
    async close(gracePeriodMs = config.gracePeriodMs) {
      shuttingDown = true;
      const closed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
      server.closeIdleConnections();
      // Kept-alive connections that finish their last response become idle: close them as they do.
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      sweep.unref();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn({ event: 'shutdown_grace_expired' }, 'grace period over, closing remaining connections');
          server.closeAllConnections();
          resolve();
        }, gracePeriodMs);
        timer.unref();
      });
      await Promise.race([closed, grace]);
      clearTimeout(timer);
      clearInterval(sweep);
      listening = false;
      await Promise.all(upstreams.map((u) => u.close()));
      store.close();
    },
  };
}
