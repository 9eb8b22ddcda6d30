import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('admin endpoints and readiness', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('admin.port moves /healthz, /readyz and /metrics off the app-facing port', async () => {
    h = await startHarness({ kinds: ['akool'], top: { admin: { port: 0 } } });
    const admin = `http://127.0.0.1:${h.relay.adminAddress()!.port}`;
    for (const p of ['/healthz', '/readyz', '/metrics']) {
      await request(admin).get(p).expect(200);
      const onApp = await request(h.url).get(p).expect(404);
      expect(onApp.body.error.code).toBe('ROUTE_NOT_FOUND');
    }
    await request(h.url).get('/akool/x').expect(200);
    expect((await request(admin).get('/akool/x').expect(404)).body.error.code).toBe('ROUTE_NOT_FOUND');
  });

  it('readiness.requireTokens: 503 until every upstream with credentials holds a token, fetched at start', async () => {
    h = await startHarness({ kinds: ['akool', 'hitem3d'], top: { readiness: { requireTokens: true } } });
    // The harness listened before we could slow the fakes: the start-up fetch is already under way.
    let ready = await request(h.url).get('/readyz');
    for (let i = 0; i < 50 && ready.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      ready = await request(h.url).get('/readyz');
    }
    expect(ready.status).toBe(200);
    expect(ready.body.upstreams.akool.token.state).toBe('valid');
    // No request was needed: the tokens were fetched at start.
    expect(h.vendors.akool.counts.requests).toBe(0);
    expect(h.vendors.akool.counts.tokenFetches).toBe(1);
  });

  it('readiness.requireTokens: an upstream that cannot get a token keeps /readyz at 503, and says why', async () => {
    h = await startHarness({ kinds: ['hitem3d'], top: { readiness: { requireTokens: true } }, upstream: { hitem3d: { auth: { clientSecret: 'wrong' } } } });
    await new Promise((r) => setTimeout(r, 200));
    const res = await request(h.url).get('/readyz').expect(503);
    expect(res.body.status).toBe('waiting_for_tokens');
    expect(res.body.upstreams.hitem3d.token.state).toBe('failing');
    expect(res.body.upstreams.hitem3d.token.lastError.code).toBe('TOKEN_FETCH_FAILED');
    expect(res.text).not.toContain('wrong');
  });

  const readyWithin = async (url: string, ms: number) => {
    const until = Date.now() + ms;
    let res = await request(url).get('/readyz');
    while (res.status !== 200 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      res = await request(url).get('/readyz');
    }
    return res;
  };

  it('readiness.requireTokens: a token fetch that fails at start is retried in the background, with no traffic, until ready', async () => {
    // Every fetch fails until the fake recovers: the start-up fetch, its quick retry, and a few
    // backoff rounds. No request reaches tokenrelay (as in Kubernetes, for an unready pod).
    h = await startHarness({ kinds: ['akool'], top: { readiness: { requireTokens: true } }, beforeStart: (v) => v.akool.failTokens('http500', 4) });
    const failing = await request(h.url).get('/readyz');
    expect(failing.status).toBe(503);
    expect(failing.body.waitingFor[0].upstream).toBe('akool');
    const res = await readyWithin(h.url, 15_000);
    expect(res.status).toBe(200);
    expect(res.body.upstreams.akool.token.state).toBe('valid');
    expect(h.vendors.akool.counts.requests).toBe(0);
    expect(h.vendors.akool.counts.tokenFetches).toBe(5);
  });

  it('readiness.requireTokens: an upstream without usable credentials holds readiness, and /readyz names it and why', async () => {
    h = await startHarness({ kinds: ['akool', 'hitem3d'], top: { readiness: { requireTokens: true } }, upstream: { hitem3d: { auth: { clientSecret: undefined, clientSecretFile: '/nonexistent/tokenrelay-secret' } } } });
    const res = await readyWithin(h.url, 1_000);
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('waiting_for_tokens');
    expect(res.body.upstreams.akool.token.state).toBe('valid');
    expect(res.body.upstreams.hitem3d.token.state).toBe('unavailable');
    expect(res.body.waitingFor).toEqual([{ upstream: 'hitem3d', reason: 'credentials missing: clientSecret (file /nonexistent/tokenrelay-secret: ENOENT)' }]);
  });

  it('by default /readyz is 200 on start, before any token', async () => {
    h = await startHarness({ kinds: ['akool'] });
    const res = await request(h.url).get('/readyz').expect(200);
    expect(res.body.upstreams.akool.token.state).toBe('none');
  });
});
