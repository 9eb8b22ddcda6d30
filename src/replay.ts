/**
 * The replay copy of a request body, taken while the body streams upstream (a tee). The client
 * stream is read at the pace the upstream drains it; chunks are kept up to `maxBytes` so the
 * request can be resent once after a token refresh. Past the bound the copy is dropped and the
 * request is marked not replayable, but the body keeps streaming.
 */
import { PassThrough, Readable, Writable } from 'node:stream';

export class ReplayBody extends Writable {
  private chunks: Buffer[] = [];
  private size = 0;
  private sink: PassThrough | undefined;
  private done = false;
  private failed: Error | undefined;
  private readonly waiters: Array<() => void> = [];
  overflowed = false;

  constructor(source: Readable, private readonly maxBytes: number) {
    super({ highWaterMark: 64 * 1024 });
    // The sink exists before the first byte is read, so nothing read ahead of the upstream
    // connection is lost; its buffer (64 KiB) is all that is held before the upstream drains it.
    this.sink = new PassThrough({ highWaterMark: 64 * 1024 });
    this.first = this.sink;
    source.on('error', (err) => this.destroy(err));
    source.on('aborted', () => this.destroy(new Error('client aborted the request body')));
    source.pipe(this);
  }

  private readonly first: PassThrough;

  /** The stream the first attempt sends upstream. */
  firstAttempt(): Readable {
    return this.first;
  }

  /** Stop feeding the first attempt (it was answered or aborted); keep recording. */
  detach(): void {
    const sink = this.sink;
    this.sink = undefined;
    if (sink && !sink.destroyed) sink.destroy();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.size += chunk.length;
    if (!this.overflowed) {
      if (this.size > this.maxBytes) {
        this.overflowed = true;
        this.chunks = [];
      } else this.chunks.push(chunk);
    }
    const sink = this.sink;
    if (!sink || sink.destroyed) return cb();
    if (sink.write(chunk)) return cb();
    // Backpressure: take the next chunk from the client only once the upstream drained this one.
    const go = () => {
      sink.off('drain', go);
      sink.off('close', go);
      cb();
    };
    sink.on('drain', go);
    sink.on('close', go);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.done = true;
    this.sink?.end();
    this.settle();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // autoDestroy also lands here after a clean finish: only an error, or an early end, is a failure.
    if (err || !this.done) {
      this.failed = err ?? new Error('request body aborted');
      this.sink?.destroy(this.failed);
      this.chunks = [];
    }
    this.settle();
    cb(err);
  }

  private settle(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once the whole body has been received; true when it can be resent. */
  complete(): Promise<boolean> {
    if (this.done || this.failed) return Promise.resolve(this.replayable);
    return new Promise((resolve) => this.waiters.push(() => resolve(this.replayable)));
  }

  get replayable(): boolean {
    return this.done && !this.failed && !this.overflowed;
  }

  /** A fresh stream of the recorded body, for the resend. */
  replay(): Readable {
    return Readable.from(this.chunks, { objectMode: false });
  }

  release(): void {
    this.chunks = [];
  }
}
