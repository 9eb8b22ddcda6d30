import { raw } from '../../support/raw.js';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('routing and forwarding', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it('strips the prefix and passes the rest of the path and query byte-for-byte', async () => {
    const target = '/akool/api/open/v3/x%2Fy/%E4%BD%A0?q=a%20b&q=c+d&empty=&raw=%zz';
    const answer = await raw(h.url, `GET ${target} HTTP/1.1\r\nHost: app.local\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(h.vendors.akool.seen.at(-1)!.url).toBe('/api/open/v3/x%2Fy/%E4%BD%A0?q=a%20b&q=c+d&empty=&raw=%zz');
  });

  it('the bare prefix and prefix?query map to / upstream', async () => {
    await request(h.url).get('/akool').expect(200);
    expect(h.vendors.akool.seen.at(-1)!.url).toBe('/');
    await request(h.url).get('/akool?a=1').expect(200);
    expect(h.vendors.akool.seen.at(-1)!.url).toBe('/?a=1');
  });

  it('matches whole segments only: /akoolx is ROUTE_NOT_FOUND', async () => {
    const res = await request(h.url).get('/akoolx/api').expect(404);
    expect(res.body.error.code).toBe('ROUTE_NOT_FOUND');
    expect((await request(h.url).get('/').expect(404)).body.error.code).toBe('ROUTE_NOT_FOUND');
  });

  it('sets Host to the target, drops hop-by-hop and Connection-named headers, sets X-Forwarded-*', async () => {
    await request(h.url)
      .get('/hitem3d/open-api/v1/balance')
      .set('Host', 'app.example:8080')
      .set('Connection', 'keep-alive, X-Secret-Hop')
      .set('X-Secret-Hop', 'drop me')
      .set('Keep-Alive', 'timeout=5')
      .set('Proxy-Authorization', 'Basic abc')
      .set('TE', 'trailers')
      .set('X-Forwarded-For', '203.0.113.9')
      .set('X-Custom', 'kept')
      .expect(200);
    const seen = h.vendors.hitem3d.seen.at(-1)!.headers;
    expect(seen.host).toBe(new URL(h.vendors.hitem3d.url).host);
    for (const k of ['x-secret-hop', 'keep-alive', 'proxy-authorization', 'te']) expect(seen[k]).toBeUndefined();
    expect(seen['x-custom']).toBe('kept');
    // SECURITY: the client's own X-Forwarded-For is dropped (it could claim any address).
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('app.example:8080');
  });

  it('X-Forwarded-* and Forwarded from a client are dropped and replaced; from a trustForwardedFrom peer, kept and extended', async () => {
    const send = (url: string) => request(url).get('/hitem3d/open-api/v1/balance')
      .set('Host', 'relay.local')
      .set('X-Forwarded-For', '203.0.113.9')
      .set('X-Forwarded-Proto', 'https')
      .set('X-Forwarded-Host', 'api.example.com')
      .set('Forwarded', 'for=203.0.113.9;proto=https')
      .expect(200);
    await send(h.url);
    let seen = h.vendors.hitem3d.seen.at(-1)!.headers;
    expect([seen['x-forwarded-for'], seen['x-forwarded-proto'], seen['x-forwarded-host'], seen.forwarded]).toEqual(['127.0.0.1', 'http', 'relay.local', undefined]);
    const trusting = await startHarness({ kinds: ['hitem3d'], top: { trustForwardedFrom: ['127.0.0.0/8', '10.0.0.0/8'] } });
    try {
      await send(trusting.url);
      seen = trusting.vendors.hitem3d.seen.at(-1)!.headers;
      expect([seen['x-forwarded-for'], seen['x-forwarded-proto'], seen['x-forwarded-host'], seen.forwarded])
        .toEqual(['203.0.113.9, 127.0.0.1', 'https', 'api.example.com', 'for=203.0.113.9;proto=https']);
    } finally {
      await trusting.close();
    }
  });

  it('passes the vendor’s own error answers through unchanged', async () => {
    const res = await request(h.url).get('/baidu-aiob/api/v1/did/list').expect(200);
    expect(res.body.code).toBe(200);
  });

  it('keeps upstream connections alive: 100 sequential calls use a handful of TCP connections', async () => {
    const before = h.vendors['baidu-aiob'].counts.connections;
    for (let i = 0; i < 100; i++) await h.get('/baidu-aiob/api/v1/did/list');
    expect(h.vendors['baidu-aiob'].counts.connections - before).toBeLessThanOrEqual(3);
  });
});
