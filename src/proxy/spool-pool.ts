/**
 * Spool files kept open for the next body, so that its copy overwrites page-cache pages that
 * exist already instead of allocating new ones.
 *
 * Why: a new spool file costs the kernel more than the copy itself. Profiled on 300 MB uploads
 * (perf, the thread pool's samples): the copy into the page cache was a third of the write,
 * the rest was allocating pages, ext4's delayed-allocation bookkeeping and, at the end, freeing
 * them all again. Writing over a file's existing pages costs 0.15 ms of CPU per MB against
 * 0.39 for a new file (a writev loop outside the proxy), and a whole upload through tokenrelay
 * ~1.3x the MB/s.
 *
 * What it must not cost:
 * - Disk writes. A file deleted within seconds never reaches the disk; one kept dirty past
 *   `vm.dirty_expire_centisecs` (30 s by default) is written back. So a file is kept open only
 *   until two thirds of that age, counted from when it was made, then closed (the kernel drops
 *   its pages unwritten: it is unlinked).
 * - Disk space beyond the spool budget: an idle file keeps its bytes taken in the budget, and
 *   gives them up (it is closed) as soon as a body in flight needs them.
 * - Memory for long: at most `maxFiles` idle files of `maxBytes` in all, and none past its age.
 *
 * SECURITY: a pooled file still holds the last body's bytes. It is unlinked (no other process
 * can open it) and 0600, and a copy is only ever read up to what its own body wrote.
 */
import { close, readFileSync } from 'node:fs';

/** An open, unlinked spool file between two bodies. */
export interface IdleSpool {
  fd: number;
  /** Bytes the file holds on disk (taken in the spool budget while it is idle). */
  size: number;
  /** When the file was made: its pages may be dirty since then. */
  born: number;
  /** The spool directory it was made in: a reload that moves the spool does not use it again. */
  dir: string;
}

export interface SpoolPoolOptions {
  /** Idle files kept at most (4). */
  maxFiles?: number;
  /** Bytes the idle files hold at most, all together (512 MiB). */
  maxBytes?: number;
  /** A file's age (from when it was made) past which it is closed: 2/3 of the kernel's dirty expiry (20 s). */
  maxAgeMs?: number;
  now?: () => number;
}

/** Two thirds of `vm.dirty_expire_centisecs` (30 s when it cannot be read), in ms, at most 20 s. */
export function defaultMaxAgeMs(read = () => readFileSync('/proc/sys/vm/dirty_expire_centisecs', 'utf8')): number {
  let expireMs = 30_000;
  try {
    const cs = Number(read().trim());
    if (Number.isFinite(cs) && cs > 0) expireMs = cs * 10;
  } catch {
    // Not Linux, or no /proc: the kernel's usual default.
  }
  return Math.min(20_000, Math.floor((expireMs * 2) / 3));
}

export class SpoolPool {
  private idle: IdleSpool[] = [];
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxFiles: number;
  private readonly maxBytes: number;
  readonly maxAgeMs: number;
  private readonly now: () => number;

  /** `giveBack(n)`: the budget's bytes a closed idle file held. */
  constructor(private readonly giveBack: (n: number) => void, opts: SpoolPoolOptions = {}) {
    this.maxFiles = opts.maxFiles ?? 4;
    this.maxBytes = opts.maxBytes ?? 512 * 1024 * 1024;
    this.maxAgeMs = opts.maxAgeMs ?? defaultMaxAgeMs();
    this.now = opts.now ?? Date.now;
  }

  /** Idle files now (for tests and metrics). */
  get size(): number {
    return this.idle.length;
  }

  /** Bytes the idle files hold in the spool budget (at most `maxFiles` of them: summed when asked). */
  get heldBytes(): number {
    return this.idle.reduce((n, f) => n + f.size, 0);
  }

  /**
   * The most recently used idle file made in `dir` and not yet of age, if any (one that comes of
   * age while its body is written is closed when that body puts it back). Its bytes stay taken
   * in the budget: the caller holds them now.
   */
  take(dir: string): IdleSpool | undefined {
    this.expire();
    for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i]!.dir === dir) return this.idle.splice(i, 1)[0];
    return undefined;
  }

  /** A body is done with its file (no write in flight, no reader): kept for the next, or closed. */
  put(f: IdleSpool): void {
    this.expire();
    if (this.closed || this.now() - f.born >= this.maxAgeMs || f.size > this.maxBytes) return this.discard(f.fd, f.size);
    // The oldest go first to make room: they are the nearest to their age anyway.
    while (this.idle.length && (this.idle.length >= this.maxFiles || this.heldBytes + f.size > this.maxBytes)) this.evictOne();
    if (this.maxFiles === 0) return this.discard(f.fd, f.size);
    this.idle.push(f);
    this.schedule();
  }

  /** Closes the oldest idle file, so a body in flight can have its bytes; false when there is none. */
  evictOne(): boolean {
    const f = this.idle.shift();
    // Closing the last descriptor of an unlinked file drops its pages, dirty or not, unwritten.
    if (f) this.discard(f.fd, f.size);
    return f !== undefined;
  }

  /** A file not to keep (it failed, or was never opened: `fd` -1): closed, its budget bytes given back. */
  discard(fd: number, bytes: number): void {
    this.giveBack(bytes);
    if (fd >= 0) close(fd, () => {});
  }

  /** Closes every idle file, and every file put back after (shutdown: requests cut short unwind later). */
  close(): void {
    this.closed = true;
    while (this.evictOne());
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private expire(): void {
    const now = this.now();
    const old = this.idle.filter((f) => now - f.born >= this.maxAgeMs);
    if (!old.length) return;
    this.idle = this.idle.filter((f) => !old.includes(f));
    for (const f of old) this.discard(f.fd, f.size);
  }

  /** One timer for the next file to come of age; it never holds the process open. */
  private schedule(): void {
    if (this.timer || !this.idle.length) return;
    const next = Math.min(...this.idle.map((f) => f.born)) + this.maxAgeMs - this.now();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expire();
      this.schedule();
    }, Math.max(0, next) + 5);
    this.timer.unref();
  }
}
