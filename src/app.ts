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
  const upstreams = config.upstreams.map((plan) => createUpstream(plan, { logger, metrics, store, clock }));
  metrics.watchTokens(upstreams.flatMap((u) => (u.tokens ? [u.tokens] : [])));
  const route = createRouter(upstreams.map((u) => Object.assign(u, { prefix: u.plan.prefix })));
  const forward = createForwarder({ logger, metrics, replayMaxBytes: config.replayMaxBytes, inspectBytes: config.inspectBytes });
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
    if (admin(path, req.method ?? 'GET', res)) return;
    const matched = url.charCodeAt(0) === 47 ? route(url) : undefined;
    if (!matched) return sendError(res, new TokenRelayError('ROUTE_NOT_FOUND', `no upstream is configured for ${JSON.stringify(path.slice(0, 200))}`));

    const up = matched.upstream;
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
      sendError(res, coded);
    });
  }

  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 5_000 }, handle);
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
