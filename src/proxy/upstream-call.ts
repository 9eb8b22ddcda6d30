/**
 * One upstream request on undici's dispatch API, without the promise-and-Readable layer of
 * `request()` (an AsyncResource and a BodyReadable per request showed in the profile). The
 * answer object is itself the dispatch handler (no closures per request), and settles once:
 * when the head arrives, or, for an answer worth reading (a small JSON body that may carry an
 * expired-token code), when that body is complete or has outgrown the read limit. The rest of a
 * body is held (paused, bounded) until the forwarder pipes it to the client or drops it.
 * Backpressure: the upstream socket pauses whenever the client (or the hold buffer) is full.
 */
import type { ServerResponse } from 'node:http';
import { TokenRelayError } from '../util/errors.js';
import type { Dispatcher } from 'undici';
import { responseHeaders, type ResponseHeaders } from './headers.js';
import type { AbortLike } from '../util/abort.js';

export interface Peeked {
  chunks: Buffer[];
  /** True when the whole body is in `chunks`. */
  ended: boolean;
}

/** Whether to read the body before settling, and how many bytes at most. 0: don't. */
export type PeekRule = (statusCode: number, headers: ResponseHeaders) => number;

const HOLD = 64 * 1024;

function aborted(): Error {
  return Object.assign(new Error('client went away'), { code: 'UND_ERR_ABORTED' });
}

export class UpstreamAnswer {
  statusCode = 0;
  headers: ResponseHeaders = {};
  /** The body read before settling (see PeekRule), if it was read. */
  peeked: Peeked | undefined = undefined;
  /** Body bytes received (what was relayed, unless dropped): usage metrics. */
  bytes = 0;
  /** Seconds from dispatch to the answer's head (the upstream-latency metric). */
  secondsToHead = 0;
  private readonly startedAt = performance.now();
  private mode: 'hold' | 'pipe' | 'peek' | 'dump' = 'hold';
  private held: Buffer[] = [];
  private heldSize = 0;
  private ended = false;
  private failed: Error | undefined = undefined;
  private resumeFn: (() => void) | undefined = undefined;
  private abortFn: ((err: Error) => void) | undefined = undefined;
  private res: ServerResponse | undefined = undefined;
  private peekLimit = 0;
  private settled = false;

  private constructor(
    private readonly signal: AbortLike,
    private readonly rule: PeekRule,
    private readonly resolve: (a: UpstreamAnswer) => void,
    private readonly reject: (e: Error) => void,
  ) {}

  static send(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions, signal: AbortLike, rule: PeekRule): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const a = new UpstreamAnswer(signal, rule, resolve, reject);
      signal.addEventListener('abort', () => a.abortFn?.(aborted()));
      dispatcher.dispatch(opts, a);
    });
  }

  // The dispatch handler (undici calls these as methods of this object).
  onConnect(abort: (err: Error) => void): void {
    this.abortFn = abort;
    if (this.signal.aborted) abort(aborted());
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.statusCode = statusCode;
    this.secondsToHead = (performance.now() - this.startedAt) / 1000;
    this.headers = responseHeaders(raw);
    this.resumeFn = resume;
    const limit = this.rule(statusCode, this.headers);
    if (limit <= 0) return this.settle();
    this.mode = 'peek';
    this.peekLimit = limit;
    return true;
  }

  onData(chunk: Buffer): boolean {
    // undici hands on empty chunks too (after a pause); written to the client, each one was a
    // write(2) of nothing: one wasted syscall per 64 KiB of a download.
    if (chunk.length === 0) return true;
    this.bytes += chunk.length;
    switch (this.mode) {
      case 'pipe':
        return this.res!.write(chunk);
      case 'dump':
        return true;
      case 'peek':
        this.held.push(chunk);
        this.heldSize += chunk.length;
        if (this.heldSize <= this.peekLimit) return true;
        // Too big to be an expired-token answer: settle with what was read, hold the rest.
        this.mode = 'hold';
        this.takePeeked(false);
        this.settle();
        return false;
      default:
        this.held.push(chunk);
        this.heldSize += chunk.length;
        return this.heldSize < HOLD;
    }
  }

  onComplete(): void {
    this.ended = true;
    if (this.mode === 'pipe') this.res!.end();
    else if (this.mode === 'peek') {
      this.mode = 'hold';
      this.takePeeked(true);
      this.settle();
    }
  }

  onError(err: Error): void {
    this.failed = err;
    if (!this.settled) {
      this.settled = true;
      this.reject(err);
    } else if (this.mode === 'pipe') this.res!.destroy();
  }

  private settle(): boolean {
    this.settled = true;
    this.resolve(this);
    return true;
  }

  private takePeeked(ended: boolean): void {
    const { held } = this;
    // Joined once: the same buffer is judged and, when it is not an expired signal, sent. An
    // empty body (a 200 with content-length: 0) is one empty buffer, so chunks[0] always exists.
    this.peeked = { chunks: ended && held.length !== 1 ? [Buffer.concat(held)] : held, ended };
    this.held = [];
    this.heldSize = 0;
  }

  private resume(): void {
    const r = this.resumeFn;
    if (r && !this.ended) r();
  }

  /** Streams the body (what is held, then the rest) into `res`; ends or destroys it with the body. */
  pipeTo(res: ServerResponse): void {
    this.res = res;
    for (const c of this.held) res.write(c);
    this.held = [];
    if (this.failed) return void res.destroy();
    if (this.ended) return void res.end();
    this.mode = 'pipe';
    res.on('drain', () => this.resume());
    this.resume();
  }

  /** Drops the body (the connection stays reusable once it has been read). */
  dump(): void {
    this.held = [];
    this.peeked = undefined;
    this.mode = 'dump';
    this.resume();
  }
}

/** Maps undici and network failures to coded errors. */
export function upstreamError(err: unknown, upstream: string): TokenRelayError {
  if (err instanceof TokenRelayError) return err;
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? e.name;
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new TokenRelayError('UPSTREAM_TIMEOUT', 'the upstream sent no response headers in time', { upstream });
  if (code === 'UND_ERR_BODY_TIMEOUT') return new TokenRelayError('UPSTREAM_TIMEOUT', 'the upstream stalled while sending its answer', { upstream });
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') return new TokenRelayError('BAD_REQUEST', 'the request body did not match its Content-Length', { upstream });
  return new TokenRelayError('UPSTREAM_UNREACHABLE', `the upstream could not be reached (${code ?? 'error'})`, { upstream, cause: err });
}
