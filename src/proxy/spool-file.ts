/**
 * One request body's spool file, written a block at a time: chunks are gathered until a block is
 * full and written with one positional `writev` on the thread pool. No `Writable` in between:
 * profiled on a 300 MB upload, `fs.WriteStream`'s buffering (write, clearBuffer, onwrite) cost as
 * much CPU as the kernel's copy into the file, and the stream functions it shares with every
 * socket went polymorphic and were deoptimised after each upload.
 *
 * The file is unlinked as soon as it is open and lives on as a descriptor: read back through it
 * for the resend, then handed to the pool for the next body (`spool-pool.ts`), or closed.
 */
import { open, read, unlink, writev } from 'node:fs';
import { finished, Readable } from 'node:stream';
import type { SpoolPool } from './spool-pool.js';
import { spoolFile } from './spool.js';

/** Bytes gathered before a write is started (while none is in flight, or at the end). */
const BLOCK = 512 * 1024;
/**
 * Bytes held (gathered + being written) past which `write()` says wait (returns false): 4 MiB
 * while all spool files together hold under 64 MiB, else 1 MiB. A client paused on its spool
 * waits for the thread pool, which shares the core: with 1 MiB, four 8 MiB multipart POSTs at
 * once ran 0.77-0.89x the undici pass-through's requests/s at less CPU per request (paired);
 * with 4 MiB, 1.15-1.24x the 1 MiB build at 0.85-0.91x its CPU per request (2 MiB: 1.02-1.13x).
 * The cap keeps many uploads at once to 1 MiB each, as before.
 */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
const HELD_ALL = 64 * 1024 * 1024;
/** Bytes every spool file of the process holds, gathered or being written. */
let heldAll = 0;
const roomFor = (held: number) => held < (heldAll < HELD_ALL ? HIGH_WATER : LOW_WATER);

export class SpoolFile {
  private fd = -1;
  private opening = false;
  private born = 0;
  private queue: Buffer[] = [];
  private queued = 0;
  private inFlight = 0;
  private position = 0;
  private onEnd: (() => void) | undefined;
  /** No more writes: released, or failed. */
  private stopped = false;
  private failed = false;
  /** Streams reading the copy back; the file is not handed on while one is open. */
  private readers = 0;
  /** Set by `release()`: the budget bytes to hand on with the file once it is settled. */
  private releasing: number | undefined;
  /** The client waits for this (set when `write()` returned false), called once. */
  private onDrain: (() => void) | undefined;
  /** Bytes the file held when this body got it from the pool (0 for a new file). */
  readonly reused: number;

  /**
   * `onError`: a failed open or write (the disk full, say); nothing more is written after it.
   * `path`: the name a new file is made under (removed once it is open); a fresh one by default.
   */
  constructor(private readonly dir: string, private readonly pool: SpoolPool, private readonly onError: (err: Error) => void, path?: string) {
    const idle = pool.take(dir);
    this.reused = idle?.size ?? 0;
    if (idle) {
      this.fd = idle.fd;
      this.born = idle.born;
      return;
    }
    // SECURITY: request bodies are the clients' data: readable by this user only, and unlinked
    // at once, so no other process can open the file and none is left if this one is killed.
    // 'wx+': a name that exists already is never written into.
    this.opening = true;
    const name = path ?? spoolFile(dir);
    open(name, 'wx+', 0o600, (err, fd) => {
      if (err) {
        this.opening = false;
        return this.fail(err);
      }
      this.fd = fd;
      this.born = Date.now();
      unlink(name, (e) => {
        this.opening = false;
        if (e) return this.fail(e);
        if (this.stopped) return this.settle();
        this.flush();
      });
    });
  }

  /** The file is still being opened. */
  get pending(): boolean {
    return this.opening && !this.stopped;
  }

  /** Bytes written to the file by this body (all of them once `end` has called back). */
  get written(): number {
    return this.position;
  }

  /** Queues a chunk; false when the caller should wait for `whenDrained` before more. */
  write(chunk: Buffer): boolean {
    if (this.stopped) return true;
    this.queue.push(chunk);
    this.queued += chunk.length;
    heldAll += chunk.length;
    if (this.inFlight === 0 && this.queued >= BLOCK) this.flush();
    return roomFor(this.queued + this.inFlight);
  }

  /** Calls `fn` once what is held is under the high-water mark again. */
  whenDrained(fn: () => void): void {
    this.onDrain = fn;
  }

  /** Writes what is left, then calls `done`; also called when the file fails or is released first. */
  end(done: () => void): void {
    this.onEnd = done;
    this.flush();
  }

  /**
   * The body as written, from the start: `written` bytes and never more (a reused file still
   * holds the last body's bytes past them). Only after `end` has called back.
   */
  read(): Readable {
    this.readers++;
    const stream = new FileRange(this.fd, this.position);
    // Read to its end, or destroyed (once no read is in flight): once either way.
    finished(stream, () => {
      this.readers--;
      this.settle();
    });
    return stream;
  }

  /**
   * No more writes: the file goes back to the pool (or is closed) with the `budgetBytes` the body
   * holds for it, once no write is in flight and every reader has closed.
   */
  release(budgetBytes: number): void {
    if (this.releasing !== undefined) return;
    this.releasing = budgetBytes;
    this.stopped = true;
    this.dropQueue();
    const done = this.onEnd;
    this.onEnd = undefined;
    done?.();
    this.settle();
  }

  private settle(): void {
    // Still opening: the open's callback settles again once it has a descriptor.
    if (this.releasing === undefined || this.inFlight > 0 || this.readers > 0 || this.opening) return;
    this.handOn(this.fd);
  }

  private handOn(fd: number): void {
    const bytes = this.releasing!;
    this.releasing = undefined;
    this.fd = -1;
    if (fd >= 0 && !this.failed) this.pool.put({ fd, size: bytes, born: this.born, dir: this.dir });
    else this.pool.discard(fd, bytes);
  }

  private flush(): void {
    if (this.fd < 0 || this.stopped || this.inFlight > 0) return;
    if (this.queued === 0 || (this.queued < BLOCK && !this.onEnd)) {
      if (this.queued === 0 && this.onEnd) this.finish();
      return;
    }
    const chunks = this.queue;
    const n = this.queued;
    this.queue = [];
    this.queued = 0;
    this.inFlight = n;
    writev(this.fd, chunks, this.position, (err, bytes) => {
      this.inFlight = 0;
      heldAll -= n;
      if (err) return this.fail(err);
      // A short write (the disk filling up) would leave a hole in the copy: it is dropped instead.
      if (bytes !== n) return this.fail(new Error(`spool write short: ${bytes} of ${n} bytes`));
      this.position += n;
      if (this.stopped) return this.settle();
      this.flush();
      const drained = this.onDrain;
      if (drained && roomFor(this.queued + this.inFlight)) {
        this.onDrain = undefined;
        drained();
      }
    });
  }

  private dropQueue(): void {
    heldAll -= this.queued;
    this.queue = [];
    this.queued = 0;
  }

  private finish(): void {
    const done = this.onEnd!;
    this.onEnd = undefined;
    done();
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    const wasStopped = this.stopped;
    this.stopped = true;
    this.dropQueue();
    const done = this.onEnd;
    this.onEnd = undefined;
    if (!wasStopped) this.onError(err);
    done?.();
    this.settle();
  }
}

/**
 * `length` bytes of a file from its start, read with positional reads. Not `fs.createReadStream`:
 * its `destroy()` closes the descriptor even with `autoClose: false`, and this one goes on to
 * the next body. Destroyed mid-read, it settles only once that read is back.
 */
class FileRange extends Readable {
  private position = 0;
  private reading = false;
  private onIdle: (() => void) | undefined;

  constructor(private readonly fd: number, private readonly length: number) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(size: number): void {
    const n = Math.min(Math.max(size, 64 * 1024), this.length - this.position);
    if (n <= 0) return void this.push(null);
    const buf = Buffer.allocUnsafe(n);
    this.reading = true;
    read(this.fd, buf, 0, n, this.position, (err, got) => {
      this.reading = false;
      if (this.onIdle) return this.onIdle();
      if (err) return void this.destroy(err);
      if (got === 0) return void this.destroy(new Error('spool file shorter than its body'));
      this.position += got;
      this.push(got < n ? buf.subarray(0, got) : buf);
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.reading) return cb(err);
    this.onIdle = () => cb(err);
  }
}
