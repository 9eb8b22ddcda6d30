import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('health, readiness, metrics and logs', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it('/healthz answers 200 while the process serves', async () => {
    expect((await request(h.url).get('/healthz').expect(200)).body.status).toBe('ok');
  });

  it('/readyz is 200 once listening and shows each upstream’s token state, never the token', async () => {
    await request(h.url).get('/akool/x').expect(200);
    const res = await request(h.url).get('/readyz').expect(200);
    expect(res.body.status).toBe('ready');
    expect(res.body.upstreams.akool.token.state).toBe('valid');
    expect(res.body.upstreams.akool.token.expiresInSeconds).toBeGreaterThan(0);
    expect(res.body.upstreams.hitem3d.credentials).toBe('present');
    expect(res.text).not.toContain(h.vendors.akool.issued[0]);
  });

  it('/metrics: requests by upstream and status, latency, token fetches by outcome, retries', async () => {
    await request(h.url).get('/hitem3d/y').expect(200);
    h.vendors.hitem3d.revokeAll();
    await request(h.url).get('/hitem3d/y').expect(200);
    const res = await request(h.url).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const m = res.text;
    expect(m).toMatch(/tokenrelay_requests_total\{upstream="hitem3d",status="200",status_class="2xx"\} 2/);
    expect(m).toMatch(/tokenrelay_upstream_latency_seconds_count\{upstream="hitem3d"\} 3/);
    expect(m).toMatch(/tokenrelay_token_fetches_total\{upstream="hitem3d",outcome="success",reason="cold"\} 1/);
    expect(m).toMatch(/tokenrelay_token_fetches_total\{upstream="hitem3d",outcome="success",reason="expired"\} 1/);
    expect(m).toMatch(/tokenrelay_expired_retries_total\{upstream="hitem3d",outcome="success"\} 1/);
    expect(m).toMatch(/tokenrelay_token_expiry_seconds\{upstream="hitem3d"\} \d+/);
    expect(m).toContain('tokenrelay_process_resident_memory_bytes');
  });

  it('logs a JSON line per request and per token fetch', async () => {
    await request(h.url).get('/baidu-aiob/api/v1/did/list?secret=q').expect(200);
    const lines = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const req = lines.find((l) => l.msg === 'request' && l.upstream === 'baidu-aiob')!;
    expect(req).toMatchObject({ method: 'GET', path: '/baidu-aiob/api/v1/did/list', status: 200, retried: false });
    expect(typeof req.durationMs).toBe('number');
    const fetch = lines.find((l) => l.event === 'token_fetch' && l.upstream === 'baidu-aiob')!;
    expect(fetch).toMatchObject({ outcome: 'success', lifetimeSeconds: 43200 * 60, lifetimeSource: 'answer' });
  });

  it('SECURITY: no secret, token or Authorization value in any log line, error body or metric', async () => {
    // Exercise every path that handles secrets: fetches, refreshes, failures, client Authorization.
    for (const v of Object.values(h.vendors)) v.revokeAll();
    for (const p of ['/akool/a', '/hitem3d/b', '/baidu-aiob/c']) {
      await request(h.url).get(p).set('Authorization', 'Bearer client-token-xyz').expect(200);
    }
    h.vendors.hitem3d.revokeAll();
    h.vendors.hitem3d.rejectCredentials(true);
    const err = await request(h.url).get('/hitem3d/z').expect(502);
    expect(err.body.error.code).toBe('TOKEN_FETCH_FAILED');
    h.vendors.hitem3d.rejectCredentials(false);
    const metrics = (await request(h.url).get('/metrics')).text;
    const ready = (await request(h.url).get('/readyz')).text;
    const haystack = [h.logs.join('\n'), err.text, metrics, ready].join('\n');
    const needles = [
      ...Object.values(h.vendors).flatMap((v) => [...Object.values(v.credentials), ...v.issued]),
      'client-token-xyz',
      Buffer.from(`${h.vendors.hitem3d.credentials.clientId}:${h.vendors.hitem3d.credentials.clientSecret}`).toString('base64'),
    ];
    expect(needles.length).toBeGreaterThan(10);
    for (const n of needles) expect(haystack).not.toContain(n);
  });
});
