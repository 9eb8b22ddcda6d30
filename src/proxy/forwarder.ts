/**
 * The hot path: one request to one upstream. Get a token, send the request with undici while
 * the body is teed into a replay copy, look at the answer; if it says the token expired, get a
 * fresh token (one refresh shared by everyone who saw the same rejection) and resend once.
 * Everything else streams straight back with backpressure both ways.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher, Pool } from '../util/undici.js';
import type { UpstreamPlan } from '../config/types.js';
import { TokenRelayError } from '../util/errors.js';
import { upstreamRequestHeaders } from './headers.js';
import { answerSaysExpired, peekLimit } from './inspect.js';
import { UpstreamAnswer, upstreamError, type PeekRule } from './upstream-call.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Limiter } from './limiter.js';
import { bodyPending, watchBody } from './body-timeout.js';
import { readSmall, SMALL_BODY } from './small-body.js';
import { ClientGone } from '../util/abort.js';
import { ReplayBody, type ReplayLimits } from './replay.js';
import { SpoolBudget } from './spool.js';
import type { TokenProvider } from '../tokens/token-cache.js';
import { Cooldowns, type Pacer } from '../limits/pacing.js';
import { retryAfterMs } from '../util/retry-after.js';
import type { Account } from './tenancy.js';
import type { RequestTrace } from '../telemetry/tracing.js';

export interface UpstreamRuntime {
  plan: UpstreamPlan;
  pool: Pool;
  tokens: TokenProvider | undefined;
  limiter: Limiter;
  /** Pacing to the vendor's own limit (rateLimit), when it has one. */
  pacer?: Pacer | undefined;
}

export interface RequestContext {
  /** Set by the forwarder for the access log. */
  retried: boolean;
  reqId: string;
  status?: number;
  /** A tenant's account for this call; absent: the upstream's. */
  account?: Account | undefined;
  /** Request body bytes read (set by the forwarder, for usage metrics). */
  bytesIn?: number;
  /** The answer sent (its body bytes relayed, for usage metrics). */
  answer?: UpstreamAnswer;
  /** This request's server span, when tracing is on. */
  trace?: RequestTrace | undefined;
}

export function createForwarder({ logger, metrics, replay: replayLimits, inspectBytes, maxBodyBytes, clientBodyTimeoutMs = 60_000, dropHeader, trusted, spool = new SpoolBudget(replayLimits.maxSpoolBytes), cooldowns = new Cooldowns(), onBody }: {
  logger: Logger; metrics: Metrics; replay: ReplayLimits; inspectBytes: number; maxBodyBytes: number;
  /** Vendors' pauses (429 Retry-After) per credential, shared by every request of the process. */
  cooldowns?: Cooldowns;
  /** limits.clientBodyTimeout: the longest pause between two chunks of a request body. */
  clientBodyTimeoutMs?: number;
  /** Peers whose X-Forwarded-* and Forwarded are kept (trustForwardedFrom); absent: nobody's. */
  trusted?: ((ip: string | undefined) => boolean) | undefined;
  /** The spool budget shared by every request of the process (it outlives a reload). */
  spool?: SpoolBudget;
  /** Called as each request body, and each answer body that streams, starts, with its declared length (Infinity: unknown); ops/heap-room.ts. */
  onBody?: ((bytes: number) => void) | undefined;
  /** The inbound key header, stripped before forwarding. */
  dropHeader?: string;
}) {
  // What to read before settling an answer: nothing when the status decides, else a small JSON
  // body (bounded). One rule per upstream plan, made once. A HEAD answer has no body to read.
  const peekRules = new WeakMap<UpstreamPlan, PeekRule>();
  const noPeek: PeekRule = () => 0;
  function peekRule(plan: UpstreamPlan, method: string | undefined): PeekRule {
    if (method === 'HEAD') return noPeek;
    let rule = peekRules.get(plan);
    if (!rule) {
      const when = plan.expiredWhen;
      rule = (status, headers) => peekLimit(when, status, headers, inspectBytes);
      peekRules.set(plan, rule);
    }
    return rule;
  }

  async function send(up: UpstreamRuntime, req: IncomingMessage, path: string, headers: Record<string, string | string[]>,
    token: string, body: NodeJS.ReadableStream | Buffer | undefined, signal: ClientGone, ctx: RequestContext, attempt = 1): Promise<UpstreamAnswer> {
    const { inject, name, timeoutMs } = up.plan;
    // A client span per attempt; its context goes upstream in traceparent.
    const span = ctx.trace?.attempt(attempt, req.method ?? 'GET', up.plan.target, path, headers, attempt > 1 ? 'expired_token' : undefined);
    // The proxy's own header goes on last, over anything the client sent.
    headers[inject.header] = inject.prefix + token + inject.suffix;
    try {
      const answer = await UpstreamAnswer.send(up.pool, {
        path, method: req.method as Dispatcher.HttpMethod, headers, body: body as never, headersTimeout: timeoutMs,
      }, signal, peekRule(up.plan, req.method));
      metrics.upstreamLatency(name, answer.secondsToHead);
      span?.end(answer.statusCode);
      return answer;
    } catch (err) {
      span?.end(undefined, upstreamError(err, name).code);
      throw err;
    }
  }

  /** Is this answer an expired-token signal? By its status, or by the code in a small JSON body read whole. */
  function judge(up: UpstreamRuntime, answer: UpstreamAnswer): boolean {
    const peeked = answer.peeked;
    const body = peeked?.ended ? peeked.chunks[0] : undefined;
    return answerSaysExpired(up.plan.expiredWhen, answer.statusCode, answer.headers, body, inspectBytes);
  }

  /**
   * Sends the final answer. The replay copy goes first: no resend can follow, and its spool file
   * is gone before the client can see the answer (nothing is recorded after it).
   */
  function reply(res: ServerResponse, answer: UpstreamAnswer, ctx: RequestContext, replay: ReplayBody | undefined, scope: string): void {
    replay?.release();
    ctx.status = answer.statusCode;
    ctx.answer = answer;
    // The vendor said stop, and until when: later calls with this credential wait that long
    // (UPSTREAM_RATE_LIMITED) rather than hammer it. Its own 429 goes to the client unchanged.
    if (answer.statusCode === 429) {
      const ms = retryAfterMs(answer.headers['retry-after'], Date.now());
      if (ms) cooldowns.note(scope, ms);
    }
    // Answered before the client finished its body (an early 4xx): close after the answer
    // rather than read the rest of a body nobody will use.
    if (bodyPending(res.req)) res.shouldKeepAlive = false;
    // A fresh object per answer, already without hop-by-hop headers: sent as it is.
    const headers = answer.headers;
    headers['x-request-id'] = ctx.reqId;
    res.writeHead(answer.statusCode, headers);
    const peeked = answer.peeked;
    if (peeked) {
      if (peeked.ended) return void res.end(peeked.chunks[0]);
      for (const c of peeked.chunks) res.write(c);
    }
    // A streamed answer's socket chunks pile up as a request body's do (ops/heap-room.ts).
    if (answer.statusCode !== 204 && answer.statusCode !== 304 && res.req.method !== 'HEAD') {
      const cl = headers['content-length'];
      onBody?.(typeof cl === 'string' ? Number(cl) : Infinity);
    }
    // A client that hangs up aborts the upstream request through the forwarder's signal; an
    // upstream that fails mid-body closes the client connection rather than truncating silently.
    answer.pipeTo(res);
  }

  return async function forward(req: IncomingMessage, res: ServerResponse, up: UpstreamRuntime, rest: string, ctx: RequestContext): Promise<void> {
    const { plan } = up;
    const tokens = ctx.account ? ctx.account.tokens : up.tokens;
    const refused = refuseEarly(up, req, maxBodyBytes, tokens);
    if (refused || !tokens) throw refused ?? new TokenRelayError('CREDENTIALS_MISSING');
    // Whose credential this call uses: a vendor's 429 pauses that one's calls only.
    const scope = ctx.account?.scope ?? plan.name;
    const paused = cooldowns.remaining(scope);
    if (paused > 0) {
      throw new TokenRelayError('UPSTREAM_RATE_LIMITED', `${plan.name} asked for a pause (429 Retry-After): ${Math.ceil(paused / 1000)} s left`, { upstream: plan.name, retryAfterMs: paused });
    }
    // The body's declared length: Infinity for a chunked one (Node refuses a bad content-length).
    const length = req.headers['transfer-encoding'] !== undefined ? Infinity : Number(req.headers['content-length'] ?? 0);
    const hasBody = length > 0;
    if (hasBody) onBody?.(length);
    // A small body of known length is read whole, before the request takes a slot (small-body.ts).
    const small = hasBody && length <= Math.min(SMALL_BODY, replayLimits.maxBytes)
      ? await readSmall(req, clientBodyTimeoutMs) : undefined;
    if (small) ctx.bytesIn = small.length;
    // A minimal signal (see ClientGone): an AbortController per request cost ~2% of the CPU
    // of a proxied request.
    const abort = new ClientGone();
    let release: (() => void) | undefined;
    res.on('close', () => {
      release?.();
      if (!res.writableFinished) abort.fire();
    });
    if (up.pacer) {
      const t0 = performance.now();
      await up.pacer.wait(abort);
      const waited = performance.now() - t0;
      metrics.paced(plan.name, waited / 1000);
      ctx.trace?.set({ 'tokenrelay.paced_ms': Math.round(waited) });
    }
    release = up.limiter.tryAcquire();
    if (!release) {
      const t0 = performance.now();
      release = await up.limiter.acquire(abort);
      ctx.trace?.set({ 'tokenrelay.queue.wait_ms': Math.round(performance.now() - t0) });
    }

    const replay = hasBody && !small ? new ReplayBody(req, replayLimits, maxBodyBytes, spool) : undefined;
    // A streamed body that stalls ends the request: the upstream request is aborted through the
    // body, the replay copy released, and the client answered 408 if nothing was answered yet.
    const stopWatch = replay ? watchBody(req, clientBodyTimeoutMs, (err) => replay.fail(err)) : undefined;
    try {
      const token = tokens.current() ?? await waitFor(tokens.get(), tokens, ctx);
      const clientIp = req.socket.remoteAddress;
      const baseHeaders = upstreamRequestHeaders(req.headers, {
        clientIp, proto: 'http', host: req.headers.host, requestId: ctx.reqId, trusted: trusted?.(clientIp) ?? false,
      }, undefined, dropHeader);
      const path = plan.basePath + rest;
      // send() sets the token header on this object; the resend overwrites it, so no copy is needed.
      const first = await send(up, req, path, baseHeaders, token, small ?? replay?.firstAttempt(), abort, ctx);
      if (!judge(up, first)) return reply(res, first, ctx, replay, scope);

      // Expired. The body must be whole before it can be resent.
      if (replay && !replay.replayable) {
        replay.detach();
        if (!(await replay.complete())) {
          if (replay.error) throw replay.error;
          metrics.retry(plan.name, 'not_replayable');
          logger.warn({ reqId: ctx.reqId, upstream: plan.name, event: 'retry_skipped', reason: replay.overflowReason ?? 'body_incomplete' }, 'expired token, request not replayable');
          return reply(res, first, ctx, replay, scope);
        }
      }
      if (!first.peeked?.ended) first.dump();
      ctx.retried = true;
      let fresh: string;
      try {
        ctx.trace?.event('token_expired', { 'tokenrelay.upstream': plan.name });
        fresh = await waitFor(tokens.renew(token), tokens, ctx);
      } catch (err) {
        metrics.retry(plan.name, 'token_failed');
        throw err;
      }
      const second = await send(up, req, path, baseHeaders, fresh, small ?? replay?.replay(), abort, ctx, 2);
      metrics.retry(plan.name, judge(up, second) ? 'expired_again' : 'success');
      // A second expired answer goes to the client as it is: never more than one retry.
      return reply(res, second, ctx, replay, scope);
    } catch (err) {
      // The body's own failure (too large, client gone) explains an upstream error better.
      throw replay?.error ?? err;
    } finally {
      stopWatch?.();
      replay?.release();
      if (replay) {
        ctx.bytesIn = replay.bytes;
        const held = ctx.trace && replay.recorded();
        if (held) ctx.trace!.set({ 'tokenrelay.replay.memory_bytes': held.memory, 'tokenrelay.replay.spooled_bytes': held.spooled });
      }
    }
  };
}

/** A token the request waits for: its trace links to the fetch it waited on (one fetch, many waiters). */
function waitFor(p: Promise<string>, tokens: TokenProvider, ctx: RequestContext): Promise<string> {
  if (ctx.trace) ctx.trace.waitedFor(tokens.fetchLink?.());
  return p;
}

/**
 * What refuses a request before anything is read or sent: no credentials, or a declared body
 * over `maxBodyBytes`. Also run before answering `Expect: 100-continue` (app.ts).
 */
export function refuseEarly(up: UpstreamRuntime, req: IncomingMessage, maxBodyBytes: number, tokens = up.tokens): TokenRelayError | undefined {
  const { plan } = up;
  if (!tokens) return new TokenRelayError('CREDENTIALS_MISSING', `credentials missing: ${plan.missing.join(', ')}`, { upstream: plan.name });
  const cl = req.headers['content-length'];
  if (cl !== undefined && Number(cl) > maxBodyBytes) {
    return new TokenRelayError('BODY_TOO_LARGE', `the body (${cl} bytes) is larger than limits.maxBodyBytes (${maxBodyBytes})`, { upstream: plan.name });
  }
  return undefined;
}
