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
 * Log lines to stdout, batched: joined and written (fs.write, off the event loop) once 32 KiB
 * have gathered or every 100 ms. pino's own async destination (sonic-boom) measured ~6.5 µs a
 * line here, this ~1.7 µs; the access log writes a line per request. Bounded: if stdout stops
 * draining, lines past 16 MiB are dropped and counted rather than held.
 */
class StdoutSink {
  private parts: string[] = [];
  private len = 0;
  private writing = false;
  private dropped = 0;

  constructor(private readonly fd = 1) {
    setInterval(() => this.flush(), 100).unref();
  }

  write(line: string): boolean {
    if (this.len > 16 * 1024 * 1024) {
      this.dropped++;
      return true;
    }
    this.parts.push(line);
    this.len += line.length;
    if (this.len >= 32 * 1024) this.flush();
    return true;
  }

  private take(): string {
    if (this.dropped) {
      this.parts.push(`{"level":"warn","time":${Date.now()},"service":"tokenrelay","dropped":${this.dropped},"msg":"stdout was not draining: log lines dropped"}\n`);
      this.dropped = 0;
    }
    const s = this.parts.join('');
    this.parts = [];
    this.len = 0;
    return s;
  }

  flush(): void {
    if (this.writing || this.parts.length === 0) return;
    const s = this.take();
    this.writing = true;
    write(this.fd, s, (err) => {
      this.writing = false;
      // A non-blocking pipe that is full: put the text back and try again shortly.
      if ((err as NodeJS.ErrnoException | null)?.code === 'EAGAIN') {
        this.parts.unshift(s);
        this.len += s.length;
        setTimeout(() => this.flush(), 10).unref();
      } else if (this.len >= 32 * 1024) this.flush();
    });
  }

  flushSync(): void {
    const s = this.take();
    for (let off = 0, buf = Buffer.from(s); off < buf.length;) {
      try {
        off += writeSync(this.fd, buf, off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
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
    stream.write(`{"level":"info","time":${Date.now()},"service":"tokenrelay","reqId":${JSON.stringify(e.reqId)},"upstream":${JSON.stringify(e.upstream)},"method":${JSON.stringify(e.method ?? '')},"path":${JSON.stringify(e.path)},"status":${e.status},"durationMs":${e.durationMs},"retried":${e.retried}${e.code ? `,"code":"${e.code}"` : ''},"msg":"request"}\n`);
  };
}

export type { Logger };
