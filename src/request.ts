/**
 * One client request, from its head to the forwarder: the checks that refuse it before any
 * token is touched (target, method, header count, the inbound key and whose it is, the route,
 * allow-lists, a tenant's account), the tenant's limits, `Expect: 100-continue`, then the
 * forwarder; and once it is done, the access-log line and the metrics.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenRelayError } from './util/errors.js';
import { requestIdFrom, sendError } from './proxy/respond.js';
import { tooManyHeaders } from './proxy/listener.js';
import { refuseEarly, type RequestContext } from './proxy/forwarder.js';
import { upstreamError } from './proxy/upstream-call.js';
import { checkMethod, checkTarget, isAllowed } from './proxy/guard.js';
import { rateLimitHeaders, refusalError, tenantAccount } from './proxy/tenancy.js';
import type { AccessEntry, Logger } from './telemetry/logger.js';
import type { Metrics } from './telemetry/metrics.js';
import { ADMITTED, type Admission, type Counters } from './limits/policy.js';
import type { LiveUpstream, Runtime } from './runtime.js';
import type { RequestTrace, Tracing } from './telemetry/tracing.js';

export interface RequestDeps {
  runtime: () => Runtime;
  logger: Logger;
  metrics: Metrics;
  accessLog: (e: AccessEntry) => void;
  counters: Counters;
  /** The admin endpoints on the app port (when there is no admin port); false: not one. */
  admin: (path: string, method: string, res: ServerResponse, detailed: boolean) => boolean;
  shuttingDown: () => boolean;
  /** Traces; absent: tracing off. */
  tracing?: Tracing | undefined;
}

/** A coded refusal before the request has a context, and its span ended with it. */
function refuse(res: ServerResponse, trace: RequestTrace | undefined, err: TokenRelayError, reqId?: string): void {
  sendError(res, err, reqId);
  trace?.end(err.status, err.code);
}

/** A request in flight: the forwarder's context, the access-log entry, and its limits' state. */
type Call = RequestContext & AccessEntry & {
  started: number;
  /** Refused by a tenant's or an upstream's limit (the usage metric's outcome). */
  limited: boolean;
  /** Gives the tenant's concurrency slot back. */
  release: (() => void) | undefined;
};

export function createRequestHandler({ runtime, logger, metrics, accessLog, counters, admin, shuttingDown, tracing }: RequestDeps) {
  /** Once the answer is done (or the client gone): slot back, metrics, the access-log line. */
  function done(ctx: Call, res: ServerResponse): void {
    ctx.release?.();
    const status = res.writableFinished ? (ctx.status || res.statusCode) : 499;
    const seconds = (performance.now() - ctx.started) / 1000;
    metrics.request(ctx.upstream, status, seconds);
    ctx.status = status;
    ctx.durationMs = Math.round(seconds * 1e4) / 10;
    // SECURITY: the path without its query (queries can carry keys); no header values.
    accessLog(ctx);
    ctx.trace?.end(status, ctx.code);
    if (ctx.tenant) {
      metrics.tenants.request(ctx.tenant, ctx.upstream, status, ctx.limited);
      metrics.tenants.bytes(ctx.tenant, ctx.upstream, ctx.bytesIn ?? 0, ctx.answer?.bytes ?? 0);
    }
  }

  /** A coded error answer, unless an answer has begun (then the connection is cut) or the client left. */
  function fail(ctx: Call, req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.destroyed || (res.writableEnded && !res.headersSent)) return; // client already gone
    const name = ctx.upstream;
    const coded = upstreamError(err, name);
    ctx.code = coded.code;
    logger.debug({ reqId: ctx.reqId, upstream: name, code: coded.code, cause: (err as { code?: string }).code }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (coded.code === 'UPSTREAM_UNREACHABLE') logger.warn({ reqId: ctx.reqId, upstream: name, code: coded.code, detail: coded.message }, 'upstream error');
    if (coded.code === 'UPSTREAM_RATE_LIMITED' && ctx.tenant) {
      ctx.limited = true;
      metrics.tenants.limited(ctx.tenant, name, 'upstream_pause');
    }
    ctx.status = coded.status;
    // The client may still be sending a body we will not read: don't reuse the connection.
    if (coded.code === 'BODY_TOO_LARGE' || !req.complete) res.shouldKeepAlive = false;
    if (coded.retryAfterMs !== undefined) res.setHeader('retry-after', String(Math.max(1, Math.ceil(coded.retryAfterMs / 1000))));
    else if (coded.code === 'OVERLOADED') res.setHeader('retry-after', '1');
    sendError(res, coded, ctx.reqId);
  }

  /** `Expect: 100-continue` answered now that every check passed, then the forwarder. */
  function proceed(rt: Runtime, ctx: Call, req: IncomingMessage, res: ServerResponse, up: LiveUpstream, rest: string, expectContinue: boolean): void {
    if (expectContinue) {
      const refused = refuseEarly(up, req, rt.config.limits.maxBodyBytes, ctx.account ? ctx.account.tokens : up.tokens);
      if (refused) return fail(ctx, req, res, refused);
      res.writeContinue();
    }
    rt.forward(req, res, up, rest, ctx).catch((err: unknown) => fail(ctx, req, res, err));
  }

  /**
   * `expectContinue`: the client sent `Expect: 100-continue` and waits for a 100 before its
   * body. It gets one only once every check that could refuse the request has passed.
   */
  return function handle(req: IncomingMessage, res: ServerResponse, expectContinue = false): void {
    const rt = runtime(); // one runtime for the whole request
    const { route, inboundCheck, config, tenants } = rt;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (shuttingDown()) res.shouldKeepAlive = false;
    const bad = checkTarget(req) ?? checkMethod(req.method) ?? tooManyHeaders(req, config.limits.maxHeaderCount);
    if (bad) return sendError(res, bad);
    const caller = inboundCheck?.(req);
    const denied = caller instanceof TokenRelayError ? caller : undefined;
    // Admin endpoints on the app port: with inbound keys on, details only for a valid key.
    if (admin(path, req.method ?? 'GET', res, !denied)) return;
    const method = req.method ?? 'GET';
    // The server span, continuing the client's traceparent (tracing on only).
    const trace = tracing?.request(req, method, path);
    if (denied) return refuse(res, trace, denied);
    const tenant = typeof caller === 'string' ? tenants.get(caller) : undefined;

    // Taken from the client when it is sane, else made; sent upstream, returned, in every log line.
    const given = req.headers['x-request-id'];
    const reqId = requestIdFrom(given);
    req.headers['x-request-id'] = reqId;

    const matched = route(url);
    if (!matched) return refuse(res, trace, new TokenRelayError('ROUTE_NOT_FOUND', `no upstream is configured for ${JSON.stringify(path.slice(0, 200))}`), reqId);
    const up = matched.upstream;
    const name = up.plan.name;
    // SECURITY: names and the request id only (never a key, a query or a header value).
    trace?.set({ 'http.route': `${up.plan.prefix}/*`, 'tokenrelay.upstream': name, 'tokenrelay.request_id': reqId, ...(tenant ? { 'tokenrelay.tenant': tenant.plan.name } : {}) });
    if (!isAllowed(up.plan, method, matched.rest)) {
      return refuse(res, trace, new TokenRelayError('NOT_ALLOWED', `${req.method} ${path.slice(0, 200)} is not on the allow-list`, { upstream: name }), reqId);
    }
    const account = tenant ? tenantAccount(tenant, up, method, matched.rest) : undefined;
    if (account instanceof TokenRelayError) return refuse(res, trace, account, reqId);
    // One object per request: the forwarder's context, the state of its limits and, once the
    // answer is done, the access-log entry (all fields set here, so its shape never changes).
    const ctx: Call = {
      retried: false, reqId, status: 0,
      upstream: name, method: req.method, path, durationMs: 0, code: undefined, tenant: tenant?.plan.name, account,
      started: performance.now(), limited: false, release: undefined, trace,
    };
    res.on('close', () => done(ctx, res));
    const spec = tenant?.spec;
    if (!spec) return proceed(rt, ctx, req, res, up, matched.rest, expectContinue);
    // The tenant's limits, before any token is fetched or any byte is sent upstream.
    const a = counters.admit(spec);
    // Admitted at once with nothing to give back (the common case): no closure made.
    if (a === ADMITTED) return proceed(rt, ctx, req, res, up, matched.rest, expectContinue);
    const settle = (x: Admission): void => {
      if (x.ok) {
        if (res.destroyed) return x.release(); // the client left while it was checked
        ctx.release = x.release;
        return proceed(rt, ctx, req, res, up, matched.rest, expectContinue);
      }
      ctx.limited = true;
      metrics.tenants.limited(spec.name, name, x.reason);
      for (const [k, v] of Object.entries(rateLimitHeaders(spec, x, counters.quota(spec)))) res.setHeader(k, v);
      fail(ctx, req, res, refusalError(x, spec.name, name));
    };
    if (a instanceof Promise) a.then(settle, (err: unknown) => fail(ctx, req, res, err));
    else settle(a);
  };
}
