/**
 * The OTLP exporter against a collector over a real socket: JSON or protobuf, gzip, the
 * configured headers, retries of 503/429 (Retry-After honoured), no retry of a 400, a 204, a 413
 * before the body is read, and a dead collector: each failed batch dropped and counted, within the export timeout.
 */
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createOtlpExporter, type OtlpSettings } from '../../../src/telemetry/otlp-export.js';
import { startFakeCollector, type FakeCollector } from '../../support/fakes/otlp.js';

function someSpans(n: number): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer('t');
  for (let i = 0; i < n; i++) tracer.startSpan('GET /akool/*', { attributes: { 'url.path': '/api/x' } }).end();
  return memory.getFinishedSpans();
}

describe('OTLP export', () => {
  let collector: FakeCollector;
  let dropped = 0;
  const waits: number[] = [];
  const settings = (over: Partial<OtlpSettings> = {}): OtlpSettings => ({
    url: `${collector.url}/v1/traces`, protocol: 'http/json', compression: 'none', headers: {}, tls: {}, exportTimeoutMs: 2000, ...over,
  });
  const exportOnce = async (over: Partial<OtlpSettings> = {}, spans = someSpans(3)) => {
    const exporter = await createOtlpExporter(settings(over), { onDropped: (n) => (dropped += n), sleep: async (ms) => void waits.push(ms) });
    const code = await new Promise<number>((r) => exporter.export(spans, (res) => r(res.code)));
    await exporter.shutdown();
    return code;
  };

  beforeAll(async () => {
    collector = await startFakeCollector();
  });
  afterEach(() => {
    collector.spans.length = 0;
    collector.raw.length = 0;
    collector.requests.length = 0;
    collector.answers.length = 0;
    dropped = 0;
    waits.length = 0;
  });
  afterAll(() => collector.close());

  it('JSON by default: the collector decodes every span', async () => {
    expect(await exportOnce()).toBe(0);
    expect(collector.spans.map((s) => s.name)).toEqual(['GET /akool/*', 'GET /akool/*', 'GET /akool/*']);
    expect(collector.requests[0]!['content-type']).toBe('application/json');
  });

  it('protobuf, gzipped, with the configured headers', async () => {
    expect(await exportOnce({ protocol: 'http/protobuf', compression: 'gzip', headers: { 'x-api-key': 'collector-key' } })).toBe(0);
    const h = collector.requests[0]!;
    expect([h['content-type'], h['content-encoding'], h['x-api-key']]).toEqual(['application/x-protobuf', 'gzip', 'collector-key']);
    // Protobuf strings are their UTF-8 bytes: the span's name and path are in the decompressed body.
    expect(collector.raw[0]).toContain('GET /akool/*');
    expect(collector.raw[0]).toContain('/api/x');
  });

  it('a 503 and a 429 are retried (Retry-After: 0 honoured), then taken', async () => {
    collector.answers.push(503, 429);
    expect(await exportOnce()).toBe(0);
    expect(collector.requests).toHaveLength(3);
    expect(waits).toEqual([0, 0]);
    expect(dropped).toBe(0);
  });

  it('a 400 is not retried: the batch is dropped and counted', async () => {
    collector.answers.push(400);
    expect(await exportOnce()).toBe(1);
    expect(collector.requests).toHaveLength(1);
    expect(dropped).toBe(3);
  });

  it('a 204 with no body is taken; a 413 sent before the body was read is neither retried nor fatal', async () => {
    collector.answers.push(204);
    expect(await exportOnce()).toBe(0);
    collector.answers.push({ early: 413 });
    expect(await exportOnce({}, someSpans(2000))).toBe(1);
    expect(collector.requests).toHaveLength(2);
    expect(dropped).toBe(2000);
    // The next export goes through as usual.
    expect(await exportOnce()).toBe(0);
  });

  it('a dead collector: retried with backoff within the timeout, then dropped and counted', async () => {
    const code = await exportOnce({ url: 'http://127.0.0.1:9/v1/traces', exportTimeoutMs: 60_000 });
    expect(code).toBe(1);
    expect(dropped).toBe(3);
    // Four waits between five attempts, growing from ~1 s (with jitter) and capped at 5 s.
    expect(waits).toHaveLength(4);
    expect(waits[0]).toBeGreaterThanOrEqual(800);
    expect(waits[3]).toBeLessThanOrEqual(6000);
  });
});
