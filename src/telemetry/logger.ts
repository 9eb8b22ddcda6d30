/** pino JSON logs with credentials redacted wherever they could appear. */
import { write, writeSync } from 'node:fs';
import pino, { type DestinationStream, type Logger } from 'pino';

// SECURITY: belt and braces. Code never logs these on purpose; if an object slips into a log
// call, these paths are censored. Exact paths only: wildcard paths made redaction cost ~5% of
// the CPU of a proxied request (bench/, --cpu-prof), on every access-log line.
export const REDACT_PATHS = [
  'authorization', 'headers.authorization', 'req.headers.authorization', 'token', 'accessToken',
  'clientSecret', 'secretKey', 'accessKey', 'clientId', 'credentials', 'encryptionKey', 'apiKeys', 'key',
];

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default: stdout, written in batches (StdoutSink). */
  destination?: DestinationStream;
}

export function createLogger({ level = 'info', destination }: LoggerOptions = {}): Logger {
  // Synchronous stdout writes (pino's default) cost a syscall per access-log line: ~7% of the
  // CPU of a proxied request. Batched writes are flushed on exit (cli.ts) and every 100 ms.
  const dest = destination ?? stdoutDestination();
  return pino(
    {
      level,
      base: { service: 'tokenrelay' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      // Epoch milliseconds (pino's default): an ISO string per line cost 1.4% of a request's CPU.
      timestamp: pino.stdTimeFunctions.epochTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
}

/**
 * Log lines to stdout, batched: each line is encoded into a 64 KiB buffer as it comes, and a
 * buffer is written (fs.write, off the event loop) when full or within 100 ms. Lines never wait
 * as strings: held strings outlive young-generation collections and get promoted, and joining
 * them costs a copy. pino's own async destination (sonic-boom) measured ~6.5 µs a line here,
 * joined strings ~1.7 µs, this ~0.3 µs. Bounded: if stdout stops draining, lines past 16 MiB
 * are dropped and counted rather than held.
 */
const SLAB = 64 * 1024;
const MAX_PENDING = 16 * 1024 * 1024;

export class StdoutSink {
  private slab = Buffer.allocUnsafe(SLAB);
  private used = 0;
  /** Lines in the current buffer (for the dropped count). */
  private lines = 0;
  /** Full buffers waiting for the write in progress. */
  private queue: Buffer[] = [];
  private queued = 0;
  private writing = false;
  private dropped = 0;

  constructor(private readonly fd = 1) {
    setInterval(() => this.flush(), 100).unref();
  }

  write(line: string): boolean {
    // Room for the worst case (3 bytes a UTF-16 unit). A full buffer is written at once, the
    // rest by the timer: each write hands work to a libuv thread, so fewer, larger ones.
    const worst = line.length * 3;
    if (worst > SLAB) {
      this.seal();
      this.enqueue(Buffer.from(line), 1);
      this.flush();
      return true;
    }
    if (worst > SLAB - this.used) {
      this.seal();
      this.flush();
    }
    this.used += this.slab.write(line, this.used);
    this.lines++;
    return true;
  }

  /** Moves the current buffer's content to the queue. */
  private seal(): void {
    if (this.used === 0) return;
    this.enqueue(this.slab.subarray(0, this.used), this.lines);
    this.slab = Buffer.allocUnsafe(SLAB);
    this.used = 0;
    this.lines = 0;
  }

  private enqueue(buf: Buffer, lines: number): void {
    if (this.queued + buf.length > MAX_PENDING) {
      this.dropped += lines;
      return;
    }
    this.queue.push(buf);
    this.queued += buf.length;
  }

  private take(): Buffer | undefined {
    this.seal();
    if (this.dropped && this.queued < MAX_PENDING) {
      this.queue.push(Buffer.from(`{"level":"warn","time":${Date.now()},"service":"tokenrelay","dropped":${this.dropped},"msg":"stdout was not draining: log lines dropped"}\n`));
      this.dropped = 0;
    }
    if (this.queue.length === 0) return undefined;
    const buf = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue);
    this.queue = [];
    this.queued = 0;
    return buf;
  }

  flush(): void {
    if (this.writing) return;
    const buf = this.take();
    if (!buf) return;
    this.writing = true;
    write(this.fd, buf, 0, buf.length, null, (err, n) => {
      this.writing = false;
      // A non-blocking pipe that is full (EAGAIN), or a short write: the rest goes first, shortly.
      const rest = err ? ((err as NodeJS.ErrnoException).code === 'EAGAIN' ? buf : undefined) : n < buf.length ? buf.subarray(n) : undefined;
      if (rest) {
        this.queue.unshift(rest);
        this.queued += rest.length;
        setTimeout(() => this.flush(), 10).unref();
      } else if (this.queued > 0) this.flush();
    });
  }

  /**
   * Writes out what is buffered, synchronously (at exit). A non-blocking pipe that stays full
   * gets up to `maxWaitMs` of retries: a reader that never returns must not hang the exit.
   */
  flushSync(maxWaitMs = 1000): void {
    const buf = this.take();
    if (!buf) return;
    const deadline = Date.now() + maxWaitMs;
    for (let off = 0; off < buf.length;) {
      try {
        off += writeSync(this.fd, buf, off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) return;
      }
    }
  }
}

let stdout: StdoutSink | undefined;

function stdoutDestination(): StdoutSink {
  stdout ??= new StdoutSink();
  return stdout;
}

/** Writes out buffered log lines; call before the process exits. */
export function flushLogs(): void {
  try {
    stdout?.flushSync();
  } catch {
    // stdout closed: nothing left to do.
  }
}

export interface AccessEntry {
  reqId: string;
  upstream: string;
  method: string | undefined;
  path: string;
  status: number;
  durationMs: number;
  retried: boolean;
  code?: string | undefined;
  /** The caller's tenant, when it is one (a name from the config, never a key). */
  tenant?: string | undefined;
}

/** JSON string literals of values that repeat (upstream names, methods), made once each. */
const quotedCache = new Map<string, string>();
function quotedOnce(s: string): string {
  let q = quotedCache.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (quotedCache.size < 1024) quotedCache.set(s, q);
  }
  return q;
}

// Characters JSON.stringify would escape (or that are not plain ASCII): most paths have none.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;
function quoted(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * The access log: one line per request, in the same JSON shape pino writes, to the same
 * destination. Built by hand because it is on every request: through pino (bindings,
 * redaction, serialisation) it cost ~7% of a proxied request's CPU. Its fields are fixed and
 * hold no secret (the path is logged without its query).
 */
export function createAccessLog(logger: Logger): (e: AccessEntry) => void {
  const stream = (logger as unknown as Record<symbol, { write(s: string): void }>)[pino.symbols.streamSym]!;
  return function accessLog(e) {
    if (!logger.isLevelEnabled('info')) return;
    stream.write(`{"level":"info","time":${Date.now()},"service":"tokenrelay","reqId":${quoted(e.reqId)},"upstream":${quotedOnce(e.upstream)},"method":${quotedOnce(e.method ?? '')},"path":${quoted(e.path)},"status":${e.status},"durationMs":${e.durationMs},"retried":${e.retried}${e.code ? `,"code":"${e.code}"` : ''}${e.tenant ? `,"tenant":${quotedOnce(e.tenant)}` : ''},"msg":"request"}\n`);
  };
}

export type { Logger };
