/**
 * One upstream request on undici's dispatch API, without the promise-and-Readable layer of
 * `request()` (an AsyncResource and a BodyReadable per request showed in the profile). The
 * answer's body is held (paused, bounded) until the forwarder picks what to do with it: pipe it
 * to the client, read a small JSON body to look for an expired-token code, or drop it.
 * Backpressure: the upstream socket pauses whenever the client (or the hold buffer) is full.
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

export interface Peeked {
  chunks: Buffer[];
  /** True when the whole body is in `chunks`. */
  ended: boolean;
}

export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', fn: () => void): void;
}

const HOLD = 64 * 1024;

function parseHeaders(raw: Buffer[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toString('latin1').toLowerCase();
    const v = raw[i + 1]!.toString('latin1');
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = k === 'set-cookie' ? [prev, v] : `${prev}, ${v}`;
  }
  return out;
}

export class UpstreamAnswer {
  statusCode = 0;
  headers: Record<string, string | string[]> = {};
  private mode: 'hold' | 'pipe' | 'peek' | 'dump' = 'hold';
  private held: Buffer[] = [];
  private heldSize = 0;
  private ended = false;
  private failed: Error | undefined;
  private resumeFn: (() => void) | undefined;
  private abortFn: ((err: Error) => void) | undefined;
  private res: ServerResponse | undefined;
  private peekLimit = 0;
  private peekDone: { resolve: (p: Peeked) => void; reject: (e: Error) => void } | undefined;
  private started: { resolve: (a: UpstreamAnswer) => void; reject: (e: Error) => void };

  private constructor(started: UpstreamAnswer['started']) {
    this.started = started;
  }

  static send(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions, signal: AbortLike): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const a = new UpstreamAnswer({ resolve, reject });
      signal.addEventListener('abort', () => a.abortFn?.(Object.assign(new Error('client went away'), { code: 'UND_ERR_ABORTED' })));
      dispatcher.dispatch(opts, a.handler(signal));
    });
  }

  private handler(signal: AbortLike) {
    return {
      onConnect: (abort: (err: Error) => void) => {
        this.abortFn = abort;
        if (signal.aborted) abort(Object.assign(new Error('client went away'), { code: 'UND_ERR_ABORTED' }));
      },
      onHeaders: (statusCode: number, raw: Buffer[], resume: () => void): boolean => {
        if (statusCode < 200) return true;
        this.statusCode = statusCode;
        this.headers = parseHeaders(raw);
        this.resumeFn = resume;
        this.started.resolve(this);
        return true;
      },
      onData: (chunk: Buffer): boolean => {
        switch (this.mode) {
          case 'pipe':
            return this.res!.write(chunk);
          case 'dump':
            return true;
          case 'peek':
            this.held.push(chunk);
            this.heldSize += chunk.length;
            if (this.heldSize <= this.peekLimit) return true;
            this.mode = 'hold';
            this.settlePeek(false);
            return false;
          default:
            this.held.push(chunk);
            this.heldSize += chunk.length;
            return this.heldSize < HOLD;
        }
      },
      onComplete: () => {
        this.ended = true;
        if (this.mode === 'pipe') this.res!.end();
        else if (this.mode === 'peek') this.settlePeek(true);
      },
      onError: (err: Error) => {
        this.failed = err;
        if (!this.statusCode) return this.started.reject(err);
        if (this.mode === 'pipe') this.res!.destroy();
        else if (this.mode === 'peek') this.peekDone?.reject(err);
      },
    };
  }

  private settlePeek(ended: boolean): void {
    const chunks = this.held;
    this.held = [];
    this.heldSize = 0;
    this.peekDone?.resolve({ chunks, ended });
    this.peekDone = undefined;
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

  /** Reads until the body ends or more than `limit` bytes are held; the rest stays paused. */
  peek(limit: number): Promise<Peeked> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.ended || this.heldSize > limit) {
      const chunks = this.held;
      this.held = [];
      this.heldSize = 0;
      return Promise.resolve({ chunks, ended: this.ended });
    }
    this.mode = 'peek';
    this.peekLimit = limit;
    return new Promise((resolve, reject) => {
      this.peekDone = { resolve, reject };
      this.resume();
    });
  }

  /** Drops the body (the connection stays reusable once it has been read). */
  dump(): void {
    this.held = [];
    this.mode = 'dump';
    this.resume();
  }
}
