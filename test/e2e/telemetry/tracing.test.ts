/**
 * Traces, as a collector receives them (OTLP over HTTP, decoded): the tree of a plain call; a
 * revoked token (the fetch span linked from the request, two upstream attempts); 200 concurrent
 * calls on a revoked token (one fetch span, 200 links); an incoming traceparent continued and
 * passed upstream; a dead collector. Every exported byte is searched for the fakes' secrets.
 */
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTokenRelay, type TokenRelay } from '../../../src/app.js';
import { compileConfig } from '../../../src/config/load.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { createTracing } from '../../../src/telemetry/tracing.js';
import { startFakeCollector, type ExportedSpan, type FakeCollector } from '../../support/fakes/otlp.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';
import { captureLogs } from '../../support/helpers.js';

const KEY = 'key-traced-client-5a4b3c2d';
const SERVER = 2;
const CLIENT = 3;

describe('traces', () => {
  let akool: FakeVendor;
  let collector: FakeCollector;
  let relay: TokenRelay | undefined;
  let url = '';
  const client = new Agent({ connections: 256 });

  beforeAll(async () => {
    akool = await startFakeVendor('akool');
    collector = await startFakeCollector();
  });
  afterEach(async () => {
    await relay?.close(500);
    relay = undefined;
    collector.spans.length = 0;
    collector.raw.length = 0;
  });
  afterAll(async () => {
    await client.close();
    await akool.close();
    await collector.close();
  });

  async function start(endpoint = collector.url) {
    const config = compileConfig({
      listen: { host: '127.0.0.1', port: 0 },
      inbound: { apiKeys: [KEY] },
      tracing: { endpoint, sampleRatio: 1, serviceName: 'tokenrelay-test' },
      upstreams: { akool: { prefix: '/akool', target: akool.url, auth: { type: 'akool', ...akool.credentials } } },
    }, { env: { OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_EXPORTER_OTLP_TIMEOUT: '1000', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test' } });
    const metrics = createMetrics();
    const tracing = await createTracing(config.tracing!, { onDropped: (n) => metrics.spansDropped(n) });
    const { stream } = captureLogs();
    relay = createTokenRelay({ config, logger: createLogger({ level: 'info', destination: stream }), metrics, tracing });
    url = `http://127.0.0.1:${(await relay.listen(0)).port}`;
    return metrics;
  }
  const call = async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(`${url}${path}`, { dispatcher: client, headers: { 'x-tokenrelay-key': KEY, ...headers } });
    await r.body.text();
    return r.statusCode;
  };
  /** Waits until the collector holds spans matching `ok`, or 5 s. */
  const spans = async (ok: (s: ExportedSpan[]) => boolean) => {
    const until = Date.now() + 5000;
    while (!ok(collector.spans) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    return collector.spans;
  };
  const servers = (xs: ExportedSpan[]) => xs.filter((s) => s.kind === SERVER);
  const fetches = (xs: ExportedSpan[]) => xs.filter((s) => s.name === 'token fetch');
  const childrenOf = (xs: ExportedSpan[], parent: ExportedSpan) => xs.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);

  it('a plain call: a server span, a client span under it whose context went upstream, and the cold fetch it waited on, linked', async () => {
    await start();
    expect(await call('/akool/api/open/v3/voice/list?secretQuery=abc123')).toBe(200);
    const all = await spans((xs) => servers(xs).length === 1 && fetches(xs).length === 1 && xs.length >= 3);
    const server = servers(all)[0]!;
    expect(server.name).toBe('GET /akool/*');
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET', 'url.path': '/akool/api/open/v3/voice/list', 'http.route': '/akool/*',
      'http.response.status_code': 200, 'tokenrelay.upstream': 'akool',
    });
    expect(server.resource).toMatchObject({ 'service.name': 'tokenrelay-test', 'deployment.environment': 'test' });
    const [attempt] = childrenOf(all, server);
    expect(attempt).toMatchObject({ kind: CLIENT, name: 'GET' });
    expect(attempt!.attributes).toMatchObject({ 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'http.response.status_code': 200, 'tokenrelay.attempt': 1, 'url.path': '/api/open/v3/voice/list' });
    const sent = akool.seen.find((s) => s.url.startsWith('/api/open/v3/voice/list'))!;
    expect(sent.headers.traceparent).toBe(`00-${attempt!.traceId}-${attempt!.spanId}-01`);
    const fetch = fetches(all)[0]!;
    expect(fetch.attributes).toMatchObject({ 'tokenrelay.token.reason': 'cold', 'tokenrelay.token.outcome': 'success', 'tokenrelay.upstream': 'akool', 'tokenrelay.token.lifetime_source': expect.any(String) });
    expect(server.links).toEqual([{ traceId: fetch.traceId, spanId: fetch.spanId }]);
  });

  /** A relay with a token already fetched (its spans cleared), then revoked at the vendor. */
  async function startWarmThenRevoke() {
    await start();
    await call('/akool/warm');
    await spans((xs) => servers(xs).length === 1);
    collector.spans.length = 0;
    akool.revokeAll();
  }

  it('a revoked token: the refresh span linked from the request, two upstream attempts, the resend saying why', async () => {
    await startWarmThenRevoke();
    expect(await call('/akool/api/x')).toBe(200);
    const all = await spans((xs) => servers(xs).length === 1 && fetches(xs).length === 1 && xs.length >= 4);
    const server = servers(all)[0]!;
    const fetch = fetches(all)[0]!;
    expect(fetch.attributes['tokenrelay.token.reason']).toBe('expired');
    expect(server.links).toContainEqual({ traceId: fetch.traceId, spanId: fetch.spanId });
    expect(server.events.map((e) => e.name)).toContain('token_expired');
    const attempts = childrenOf(all, server).sort((a, b) => Number(a.attributes['tokenrelay.attempt']) - Number(b.attributes['tokenrelay.attempt']));
    expect(attempts.map((a) => a.attributes['tokenrelay.attempt'])).toEqual([1, 2]);
    expect(attempts[1]!.events).toEqual([{ name: 'resend', attributes: { 'tokenrelay.resend.reason': 'expired_token' } }]);
  });

  it('200 concurrent calls on a revoked token: one fetch span, linked from all 200 requests', async () => {
    await startWarmThenRevoke();
    // The refresh outlasts the burst: a call that came after it had finished would go out with
    // the new token and have nothing to wait on (under load, 100 ms was not always enough).
    akool.tokenDelayMs = 1500;
    const codes = await Promise.all(Array.from({ length: 200 }, (_, i) => call(`/akool/api/c/${i}`)));
    akool.tokenDelayMs = 0;
    expect(codes.every((c) => c === 200)).toBe(true);
    const all = await spans((xs) => servers(xs).length === 200 && fetches(xs).length >= 1);
    expect(fetches(all)).toHaveLength(1);
    const fetch = fetches(all)[0]!;
    expect(servers(all).filter((s) => s.links.some((l) => l.spanId === fetch.spanId))).toHaveLength(200);
  });

  it('an incoming traceparent is continued, and passed upstream with the attempt as parent', async () => {
    await start();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    expect(await call('/akool/api/t', { traceparent: `00-${traceId}-${parent}-01`, tracestate: 'vendor=opaque' })).toBe(200);
    const all = await spans((xs) => servers(xs).length === 1 && xs.some((s) => s.kind === CLIENT && s.name === 'GET'));
    const server = servers(all)[0]!;
    expect([server.traceId, server.parentSpanId]).toEqual([traceId, parent]);
    const attempt = childrenOf(all, server)[0]!;
    const sent = akool.seen.find((s) => s.url === '/api/t')!;
    expect(sent.headers.traceparent).toBe(`00-${traceId}-${attempt.spanId}-01`);
    expect(sent.headers.tracestate).toBe('vendor=opaque');
  });

  it('a dead collector: every request goes on as before; the dropped spans are counted', async () => {
    const dead = await startFakeCollector();
    await dead.close();
    const metrics = await start(dead.url);
    for (let i = 0; i < 20; i++) expect(await call(`/akool/api/d/${i}`)).toBe(200);
    let text = '';
    const until = Date.now() + 8000;
    while (!/tokenrelay_trace_spans_dropped_total [1-9]/.test(text) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      text = await metrics.registry.metrics();
    }
    expect(text).toMatch(/tokenrelay_trace_spans_dropped_total [1-9]/);
  });

  it('no token, key, secret or query string in any exported span', async () => {
    await start();
    await call('/akool/api/s?apiKey=query-secret-value');
    akool.revokeAll();
    await call('/akool/api/s2?apiKey=query-secret-value');
    await spans((xs) => servers(xs).length === 2 && fetches(xs).length === 2);
    const exported = collector.raw.join('\n');
    expect(exported.length).toBeGreaterThan(0);
    for (const secret of [KEY, akool.credentials.clientSecret!, akool.credentials.clientId!, ...akool.issued, 'query-secret-value', 'apiKey=']) {
      expect(exported).not.toContain(secret);
    }
  });
});
