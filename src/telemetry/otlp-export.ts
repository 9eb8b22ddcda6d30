/**
 * Spans to the collector, OTLP over HTTP: the official serializers (@opentelemetry/otlp-transformer,
 * what the OTLP exporters use), sent through undici rather than the exporter package's own
 * node:http transport.
 *
 * Why not that transport: an HTTP client made with node:http in the proxy's process shares
 * `OutgoingMessage` code with every answer the proxy writes, and its other shapes make that code
 * slower for all of them. Measured paired (GET, the benchmark's load): a node:http client
 * posting 150 KB a second to a collector in another process cost tokenrelay 0.91–1.00x its
 * requests/s (CPU a request 1.05–1.10x); the same bytes through undici 0.95–1.02x (1.0–1.03x)
 * (docs/performance.md).
 *
 * What the exporter did and this does too, from the same environment variables (resolved in
 * config/tracing.ts): JSON or protobuf, gzip, extra headers, a CA or client certificate, retries
 * of 429/502/503/504 and lost connections with backoff (Retry-After honoured) within the export
 * timeout. A batch still not taken is dropped and counted; a request never waits on any of it.
 * SECURITY: the headers may carry a collector's API key: they are sent, never logged.
 */
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { retryAfterMs } from '../util/retry-after.js';
import { headerName, Pool, type Dispatcher } from '../util/undici.js';

const gzipAsync = promisify(gzip);

export interface OtlpSettings {
  url: string;
  protocol: 'http/json' | 'http/protobuf';
  compression: 'gzip' | 'none';
  /** Extra request headers (OTEL_EXPORTER_OTLP_HEADERS). */
  headers: Readonly<Record<string, string>>;
  /** PEM files: the collector's CA, and a client certificate and key (mutual TLS). */
  tls: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined };
  exportTimeoutMs: number;
}

/** Statuses the OTLP specification calls retryable. */
const RETRYABLE = new Set([429, 502, 503, 504]);
const ATTEMPTS = 5;

export async function createOtlpExporter(s: OtlpSettings, { onDropped, sleep = delay }: {
  onDropped: (spans: number) => void;
  /** The wait between attempts (tests drive it). */
  sleep?: (ms: number) => Promise<void>;
}): Promise<SpanExporter> {
  const { JsonTraceSerializer, ProtobufTraceSerializer } = await import('@opentelemetry/otlp-transformer');
  const serializer = s.protocol === 'http/protobuf' ? ProtobufTraceSerializer : JsonTraceSerializer;
  const url = new URL(s.url);
  const read = (f: string | undefined) => (f ? readFileSync(f) : undefined);
  const connect = { ca: read(s.tls.ca), cert: read(s.tls.cert), key: read(s.tls.key) };
  const pool = new Pool(url.origin, { connections: 2, connect: connect as never });
  const headers: Record<string, string> = {
    ...s.headers,
    'content-type': s.protocol === 'http/protobuf' ? 'application/x-protobuf' : 'application/json',
    ...(s.compression === 'gzip' ? { 'content-encoding': 'gzip' } : {}),
  };
  const path = url.pathname + url.search;
  let closed = false;

  /** One POST; true when the collector took it, a number when it may be retried (ms it asked to wait, -1: nothing asked). */
  async function post(body: Buffer, deadline: number): Promise<true | number | false> {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    try {
      const r = await postOnce(pool, { path, method: 'POST', headers, body, headersTimeout: left, bodyTimeout: left });
      if (r.statusCode < 300) return true;
      if (!RETRYABLE.has(r.statusCode)) return false;
      return retryAfterMs(r.retryAfter, Date.now()) ?? -1;
    } catch {
      return closed ? false : -1;
    }
  }

  async function send(spans: ReadableSpan[]): Promise<boolean> {
    const deadline = Date.now() + s.exportTimeoutMs;
    const bytes = serializer.serializeRequest(spans) ?? new Uint8Array(0);
    // A view of the encoded bytes, not a copy.
    const encoded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const body = s.compression === 'gzip' ? await gzipAsync(encoded) : encoded;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const r = await post(body, deadline);
      if (r === true) return true;
      if (r === false || attempt === ATTEMPTS) return false;
      // Exponential backoff from 1 s (capped at 5 s) with jitter, or what the collector asked.
      const wait = r >= 0 ? r : Math.min(5000, 1000 * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
      if (Date.now() + wait >= deadline) return false;
      await sleep(wait);
    }
    return false;
  }

  return {
    export(spans, done) {
      send(spans).then((ok) => {
        if (!ok) onDropped(spans.length);
        done({ code: ok ? 0 : 1 });
      }, (err: Error) => {
        onDropped(spans.length);
        done({ code: 1, error: err });
      });
    },
    async shutdown() {
      closed = true;
      await pool.destroy();
    },
    async forceFlush() {},
  };
}

/**
 * One POST on undici's dispatch API, the answer's body ignored. Not `request()`: its answer is a
 * Readable subclass, and with it Node's shared stream code (`Readable.push`, `flow`,
 * `onStreamRead`, `emitReadable_`) deoptimised for the new shape after each export, under load
 * (`--trace-deopt`); with dispatch those are gone (requests/s paired: within the noise). The
 * proxy's own calls use dispatch() the same way (proxy/upstream-call.ts).
 */
function postOnce(pool: Dispatcher, opts: Dispatcher.DispatchOptions): Promise<{ statusCode: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    let statusCode = 0;
    let retryAfter: string | undefined;
    pool.dispatch(opts, {
      onConnect() {},
      onHeaders(status: number, raw: Buffer[]) {
        if (status < 200) return true;
        statusCode = status;
        for (let i = 0; i < raw.length; i += 2) if (headerName(raw[i]!) === 'retry-after') retryAfter = raw[i + 1]!.toString('latin1');
        return true;
      },
      onData: () => true,
      onComplete: () => resolve({ statusCode, retryAfter }),
      onError: reject,
    } as Dispatcher.DispatchHandler);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
