/**
 * The replay copy of a request body, taken while the body streams upstream (a tee). The client
 * is read at the pace the upstream drains it (the spool file only holds it back when its own
 * buffer is full). The first `memoryBytes` are kept in memory, the rest is spooled to a
 * temporary file, up to `maxBytes`; past that the copy is dropped and the request is marked not
 * replayable, but the body keeps streaming.
 *
 * Why not a Writable piped from the client into a PassThrough (the first design): each layer is
 * a hop per chunk, and with 64 KiB buffers the client socket was paused and resumed on nearly
 * every chunk while each spool write was waited for. Profiled on a 300 MB upload that path ran
 * at half the undici pass-through. Here one 'data' listener feeds the upstream's stream and the
 * spool directly, and the client is paused only when one of them is really full.
 */
import { Readable } from 'node:stream';
import type { ReplayLimits } from '../config/types.js';
import { TokenRelayError } from '../util/errors.js';
import { SpoolFile } from './spool-file.js';
import { SpoolBudget } from './spool.js';

export type { ReplayLimits };

/** What the first attempt's stream holds before the client is paused (the upstream is slower). */
const FIRST_BUFFER = 256 * 1024;

export class ReplayBody {
  private chunks: Buffer[] = [];
  private memSize = 0;
  private size = 0;
  private spool: SpoolFile | undefined;
  private readonly first: Readable;
  /** The first attempt still takes the body (not answered, not aborted). */
  private feeding = true;
  /** Why the client is paused: the first attempt's buffer, the spool's buffer, or both. */
  private firstFull = false;
  private spoolFull = false;
  /** The client's body ended. */
  private ended = false;
  /** The body ended and its copy is written out. */
  private done = false;
  /** No resend can come any more: what still arrives is passed on, never recorded. */
  private released = false;
  private failed: Error | undefined;
  private readonly waiters: Array<() => void> = [];
  /** The resend's stream, once there is one. */
  private resend: Readable | undefined;
  /** Why the copy was dropped: over `maxBytes`, or the spool (all requests together) full. */
  overflowReason: 'body_over_replay_bound' | 'spool_full' | undefined;

  /** Why the body failed, when it did (e.g. BODY_TOO_LARGE); the forwarder reports this. */
  error: TokenRelayError | undefined;

  constructor(
    private readonly source: Readable, private readonly limits: ReplayLimits, private readonly maxBodyBytes = Infinity,
    private readonly budget: SpoolBudget = new SpoolBudget(limits.maxSpoolBytes),
  ) {
    // The first attempt's stream exists before the first byte is read, so nothing read ahead of
    // the upstream connection is lost; its buffer is all that is held before the upstream drains it.
    this.first = new Readable({ highWaterMark: FIRST_BUFFER, read: () => this.drained() });
    // Failures are read from `error`/`replayable`; an 'error' event with no listener would
    // take the whole process down.
    this.first.on('error', () => {});
    source.on('data', (chunk: Buffer) => this.onData(chunk));
    source.once('end', () => this.onEnd());
    source.once('error', (err) => this.destroy(err));
    source.once('aborted', () => this.destroy(new Error('client aborted the request body')));
  }

  /** Bytes written to the spool file. */
  private spooledTotal = 0;

  /** What the copy held at most: bytes in memory and spooled to the file (for traces). */
  recorded(): { memory: number; spooled: number } {
    return { memory: this.memSize, spooled: this.spooledTotal };
  }

  /** Body bytes read from the client so far. */
  get bytes(): number {
    return this.size;
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
    if (!this.feeding) return;
    this.feeding = false;
    if (!this.first.destroyed) this.first.destroy();
    this.drained();
  }

  private onData(chunk: Buffer): void {
    if (this.failed) return;
    this.size += chunk.length;
    if (this.size > this.maxBodyBytes) {
      this.error = new TokenRelayError('BODY_TOO_LARGE', `the body is larger than limits.maxBodyBytes (${this.maxBodyBytes})`);
      return this.destroy(this.error);
    }
    // After release (the request was answered early, or failed), the rest of the body is only
    // passed on: recording it would open a new spool file that nothing removes.
    if (this.overflowReason === undefined && !this.released) this.record(chunk);
    // Backpressure: the client waits while the upstream has a full buffer not yet taken.
    if (this.feeding && !this.first.push(chunk)) this.firstFull = true;
    if (this.firstFull || this.spoolFull) this.source.pause();
  }

  private record(chunk: Buffer): void {
    if (this.size > this.limits.maxBytes) return this.overflow('body_over_replay_bound');
    // Once spooling has begun, every later chunk goes to the file too: order is the body.
    if (!this.spool && this.memSize + chunk.length <= this.limits.memoryBytes) {
      this.chunks.push(chunk);
      this.memSize += chunk.length;
      return;
    }
    const spool = this.spoolWriter();
    // A reused file comes with its bytes taken already: only what passes them is taken anew.
    const need = this.spooledTotal + chunk.length - this.held(spool);
    if (need > 0 && !this.budget.take(need)) return this.overflow('spool_full');
    this.spooledTotal += chunk.length;
    if (!spool.write(chunk) && !this.spoolFull) {
      this.spoolFull = true;
      spool.whenDrained(this.spoolDrained);
    }
  }

  /** A buffer was taken (or dropped): read on from the client unless another one is still full. */
  private drained(): void {
    this.firstFull = false;
    if (!this.spoolFull && !this.ended && !this.failed) this.source.resume();
  }

  private readonly spoolDrained = (): void => {
    this.spoolFull = false;
    this.drained();
  };

  private spoolWriter(): SpoolFile {
    // A file that cannot be opened or written (the disk full, say) drops the copy, not the body.
    this.spool ??= new SpoolFile(this.limits.spoolDir, this.budget.pool, () => this.overflow('spool_full'));
    return this.spool;
  }

  /** Bytes of the spool budget this body holds through its file: the reused file's, or more once written past them. */
  private held(spool: SpoolFile): number {
    return Math.max(spool.reused, this.spooledTotal);
  }

  private overflow(reason: 'body_over_replay_bound' | 'spool_full'): void {
    this.overflowReason ??= reason;
    this.chunks = [];
    this.dropSpool();
  }

  private onEnd(): void {
    if (this.failed) return;
    this.ended = true;
    // The upstream gets the end at once; the copy is whole once its file is written out.
    if (this.feeding) this.first.push(null);
    const spool = this.spool;
    if (spool && this.overflowReason === undefined && !this.released) spool.end(() => this.finish());
    else this.finish();
  }

  private finish(): void {
    this.done = true;
    this.settle();
  }

  private destroy(err: Error): void {
    if (this.failed || this.done) return;
    this.failed = err;
    this.source.pause();
    if (!this.first.destroyed) this.first.destroy(err);
    this.release();
    this.settle();
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
    // The file is not handed on (released to the pool) while this stream is open.
    const file = this.spool?.read();
    const out = Readable.from((async function* () {
      yield* chunks;
      if (file) yield* file;
    })());
    // However the resend ends (sent, failed), the file's reader closes with it.
    if (file) out.once('close', () => file.destroy());
    this.resend = out;
    return out;
  }

  /** Frees the memory copy and hands the spool file on (to the pool, or closed), and records nothing after; safe to call more than once. */
  release(): void {
    this.released = true;
    // A resend that never started (it failed before undici took the body) would hold its file
    // open for good: nothing reads it now. One that started ends with its request.
    if (this.resend?.readableFlowing === null) this.resend.destroy();
    this.chunks = [];
    this.dropSpool();
  }

  private dropSpool(): void {
    const { spool } = this;
    if (spool && this.spoolFull) {
      // Nothing will drain it now: the client must not stay paused on it.
      this.spoolFull = false;
      queueMicrotask(() => this.drained());
    }
    if (!spool) return;
    this.spool = undefined;
    // The file takes the budget's bytes with it: to the pool for the next body, or given back
    // when it is closed (once its writes and any resend reading it are done).
    spool.release(this.held(spool));
  }
}
