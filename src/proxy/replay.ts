/**
 * The replay copy of a request body, taken while the body streams upstream (a tee). The client
 * is read at the pace the upstream (and the spool file) drain it. The first `memoryBytes` are
 * kept in memory, the rest is spooled to a temporary file, up to `maxBytes`; past that the copy
 * is dropped and the request is marked not replayable, but the body keeps streaming.
 */
import { createReadStream, createWriteStream, openSync, rmSync, type WriteStream } from 'node:fs';
import { PassThrough, Readable, Writable } from 'node:stream';
import type { ReplayLimits } from '../config/types.js';
import { TokenRelayError } from '../util/errors.js';
import { SpoolBudget, spoolFile } from './spool.js';

export type { ReplayLimits };

export class ReplayBody extends Writable {
  private chunks: Buffer[] = [];
  private memSize = 0;
  private size = 0;
  private spool: WriteStream | undefined;
  private spoolPath: string | undefined;
  /** Bytes this body holds of the spool budget. */
  private spooled = 0;
  private sink: PassThrough | undefined;
  private readonly first: PassThrough;
  private done = false;
  /** No resend can come any more: what still arrives is passed on, never recorded. */
  private released = false;
  private failed: Error | undefined;
  private readonly waiters: Array<() => void> = [];
  /** Why the copy was dropped: over `maxBytes`, or the spool (all requests together) full. */
  overflowReason: 'body_over_replay_bound' | 'spool_full' | undefined;

  /** Why the body failed, when it did (e.g. BODY_TOO_LARGE); the forwarder reports this. */
  error: TokenRelayError | undefined;

  constructor(
    source: Readable, private readonly limits: ReplayLimits, private readonly maxBodyBytes = Infinity,
    private readonly budget: SpoolBudget = new SpoolBudget(limits.maxSpoolBytes),
  ) {
    super({ highWaterMark: 64 * 1024 });
    // The sink exists before the first byte is read, so nothing read ahead of the upstream
    // connection is lost; its buffer (64 KiB) is all that is held before the upstream drains it.
    this.first = this.sink = new PassThrough({ highWaterMark: 64 * 1024 });
    // Failures are read from `error`/`replayable`; an 'error' event with no listener would
    // take the whole process down.
    this.on('error', () => {});
    this.first.on('error', () => {});
    source.on('error', (err) => this.destroy(err));
    source.on('aborted', () => this.destroy(new Error('client aborted the request body')));
    source.pipe(this);
  }

  /** The stream the first attempt sends upstream. */
  firstAttempt(): Readable {
    return this.first;
  }

  /** The client's body failed (stalled past clientBodyTimeout): end the copy and the attempt with it. */
  fail(err: TokenRelayError): void {
    this.error ??= err;
    this.destroy(err);
  }

  /** Stop feeding the first attempt (it was answered or aborted); keep recording. */
  detach(): void {
    const sink = this.sink;
    this.sink = undefined;
    if (sink && !sink.destroyed) sink.destroy();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.size > this.maxBodyBytes) {
      this.error = new TokenRelayError('BODY_TOO_LARGE', `the body is larger than limits.maxBodyBytes (${this.maxBodyBytes})`);
      return cb(this.error);
    }
    let waits = 1;
    const step = () => {
      if (--waits === 0) cb();
    };
    const wait = (s: NodeJS.EventEmitter, ...events: string[]) => {
      waits++;
      const go = () => {
        for (const e of events) s.off(e, go);
        step();
      };
      for (const e of events) s.on(e, go);
    };
    // After release (the request was answered early, or failed), the rest of the body is only
    // passed on: recording it would open a new spool file that nothing removes.
    if (this.overflowReason === undefined && !this.released) {
      if (this.size > this.limits.maxBytes) this.overflow('body_over_replay_bound');
      // Once spooling has begun, every later chunk goes to the file too: order is the body.
      else if (!this.spool && this.memSize + chunk.length <= this.limits.memoryBytes) {
        this.chunks.push(chunk);
        this.memSize += chunk.length;
      } else if (!this.budget.take(chunk.length)) this.overflow('spool_full');
      else {
        this.spooled += chunk.length;
        if (!this.spoolWriter().write(chunk)) wait(this.spool!, 'drain', 'close');
      }
    }
    const sink = this.sink;
    // Backpressure: take the next chunk from the client only once the upstream drained this one.
    if (sink && !sink.destroyed && !sink.write(chunk)) wait(sink, 'drain', 'close');
    step();
  }

  private spoolWriter(): WriteStream {
    if (!this.spool) {
      this.spoolPath = spoolFile(this.limits.spoolDir);
      // SECURITY: request bodies are the clients' data: readable by this user only.
      this.spool = createWriteStream(this.spoolPath, { mode: 0o600 });
      this.spool.on('error', () => this.overflow('spool_full'));
    }
    return this.spool;
  }

  private overflow(reason: 'body_over_replay_bound' | 'spool_full'): void {
    this.overflowReason ??= reason;
    this.chunks = [];
    this.dropSpool();
  }

  override _final(cb: (err?: Error | null) => void): void {
    const finish = () => {
      this.done = true;
      this.sink?.end();
      this.settle();
      cb();
    };
    if (this.spool && this.overflowReason === undefined && !this.released && !this.spool.destroyed) {
      this.spool.end();
      this.spool.once('close', finish);
    } else finish();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // autoDestroy also lands here after a clean finish: only an error, or an early end, is a failure.
    if (err || !this.done) {
      this.failed = err ?? new Error('request body aborted');
      this.sink?.destroy(this.failed);
      this.release();
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
    return this.done && !this.failed && this.overflowReason === undefined && !this.released;
  }

  /** A fresh stream of the recorded body, memory part then spool file, for the resend. */
  replay(): Readable {
    const chunks = this.chunks;
    // Opened now, synchronously (only on the rare resend path): release() may unlink the file
    // before the stream reaches it, and an unlinked file stays readable through its descriptor.
    const file = this.spoolPath ? createReadStream('', { fd: openSync(this.spoolPath, 'r'), highWaterMark: 64 * 1024 }) : undefined;
    const out = Readable.from((async function* () {
      yield* chunks;
      if (file) yield* file;
    })());
    // However the resend ends (sent, failed, never started), the descriptor is closed.
    if (file) out.once('close', () => file.destroy());
    return out;
  }

  /** Frees the memory copy and removes the spool file, and records nothing after; safe to call more than once. */
  release(): void {
    this.released = true;
    this.chunks = [];
    this.dropSpool();
  }

  private dropSpool(): void {
    this.budget.give(this.spooled);
    this.spooled = 0;
    const { spool, spoolPath } = this;
    if (!spool || !spoolPath) return;
    this.spool = undefined;
    this.spoolPath = undefined;
    spool.destroy();
    rmSync(spoolPath, { force: true });
    // A stream destroyed while its file is still opening creates the file after this point
    // (the open completes, then it closes): remove it again once the stream has closed.
    if (spool.pending) spool.once('close', () => rmSync(spoolPath, { force: true }));
  }
}
