/**
 * One request body's spool file, written a block at a time: chunks are gathered until a block is
 * full and written with one positional `writev` on the thread pool. No `Writable` in between:
 * profiled on a 300 MB upload, `fs.WriteStream`'s buffering (write, clearBuffer, onwrite) cost as
 * much CPU as the kernel's copy into the file, and the stream functions it shares with every
 * socket went polymorphic and were deoptimised after each upload.
 */
import { close, open, rmSync, writev } from 'node:fs';

/** Bytes gathered before a write is started (while none is in flight, or at the end). */
const BLOCK = 512 * 1024;
/** Bytes held (gathered + being written) past which `write()` says wait (returns false). */
const HIGH_WATER = 1024 * 1024;

export class SpoolFile {
  private fd = -1;
  private queue: Buffer[] = [];
  private queued = 0;
  private inFlight = 0;
  private position = 0;
  private onEnd: (() => void) | undefined;
  private destroyed = false;
  /** The client waits for this (set when `write()` returned false), called once. */
  private onDrain: (() => void) | undefined;

  /** `onError`: a failed open or write (the disk full, say); nothing more is written after it. */
  constructor(readonly path: string, private readonly onError: (err: Error) => void) {
    // SECURITY: request bodies are the clients' data: readable by this user only. 'wx': a name
    // that exists already is never written into.
    open(path, 'wx', 0o600, (err, fd) => {
      if (err) return this.fail(err);
      this.fd = fd;
      // Destroyed while opening: the file exists only now, so it goes now.
      if (this.destroyed) return this.closeAndRemove();
      this.flush();
    });
  }

  /** The file is still being opened. */
  get pending(): boolean {
    return this.fd < 0 && !this.destroyed;
  }

  /** Queues a chunk; false when the caller should wait for `whenDrained` before more. */
  write(chunk: Buffer): boolean {
    if (this.destroyed) return true;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.inFlight === 0 && this.queued >= BLOCK) this.flush();
    return this.queued + this.inFlight < HIGH_WATER;
  }

  /** Calls `fn` once what is held is under the high-water mark again. */
  whenDrained(fn: () => void): void {
    this.onDrain = fn;
  }

  /**
   * Writes what is left and closes the file, then calls `done`; also called when the file fails
   * or is destroyed before that (the caller knows which from `onError` and its own `destroy`).
   */
  end(done: () => void): void {
    this.onEnd = done;
    this.flush();
  }

  /** Stops writing and closes the file (once no write is in flight); the caller removes it. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.queue = [];
    this.queued = 0;
    if (this.fd >= 0 && this.inFlight === 0) this.closeFd();
    const done = this.onEnd;
    this.onEnd = undefined;
    done?.();
  }

  private flush(): void {
    if (this.fd < 0 || this.destroyed || this.inFlight > 0) return;
    if (this.queued === 0 || (this.queued < BLOCK && !this.onEnd)) {
      if (this.queued === 0 && this.onEnd) this.finish();
      return;
    }
    const chunks = this.queue;
    const n = this.queued;
    this.queue = [];
    this.queued = 0;
    this.inFlight = n;
    writev(this.fd, chunks, this.position, (err) => {
      this.inFlight = 0;
      if (this.destroyed) return this.closeFd();
      if (err) return this.fail(err);
      this.position += n;
      this.flush();
      const drained = this.onDrain;
      if (drained && this.queued + this.inFlight < HIGH_WATER) {
        this.onDrain = undefined;
        drained();
      }
    });
  }

  private finish(): void {
    const done = this.onEnd!;
    this.onEnd = undefined;
    const fd = this.fd;
    this.fd = -1;
    this.destroyed = true;
    close(fd, (err) => {
      if (err) this.onError(err);
      done();
    });
  }

  private fail(err: Error): void {
    if (this.destroyed) return;
    const done = this.onEnd;
    this.onEnd = undefined;
    this.destroy();
    this.onError(err);
    done?.();
  }

  private closeFd(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    close(fd, () => {});
  }

  private closeAndRemove(): void {
    this.closeFd();
    rmSync(this.path, { force: true });
  }
}
