import { createHash } from 'node:crypto';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('expired token: refresh and retry once', () => {
  let h: Harness;
  afterEach(() => h.close());

  it.each(['akool', 'hitem3d', 'baidu-aiob'] as const)('%s: a revoked token (HTTP 200 + body code) is refreshed and the request resent', async (kind) => {
    h = await startHarness({ kinds: [kind] });
    const path = `/${kind}/some/api`;
    expect((await h.get(path)).status).toBe(200);
    h.vendors[kind].revokeAll();
    const res = await h.get(path);
    expect(res.status).toBe(200);
    expect(String(res.json.code)).toMatch(/^(1000|200)$/);
    expect(h.vendors[kind].counts.tokenFetches).toBe(2);
    expect(h.vendors[kind].seen.at(-1)!.token).toBe(h.vendors[kind].issued[1]);
    expect(h.logs.some((l) => l.includes('"retried":true'))).toBe(true);
  });

  it('a real HTTP 401 is also an expired signal', async () => {
    h = await startHarness({ kinds: ['hitem3d'], vendor: { expiredAsHttp401: true } });
    await h.get('/hitem3d/open-api/v1/balance');
    h.vendors.hitem3d.revokeAll();
    const res = await h.get('/hitem3d/open-api/v1/balance');
    expect(res.status).toBe(200);
    expect(h.vendors.hitem3d.counts.tokenFetches).toBe(2);
  });

  it('resends the same method, path, headers and body', async () => {
    h = await startHarness({ kinds: ['akool'] });
    await h.get('/akool/warm');
    h.vendors.akool.revokeAll();
    const body = JSON.stringify({ prompt: 'a cat', n: 1, pad: 'x'.repeat(100_000) });
    const res = await request(`${h.url}/akool/api/open/v3/content/image/createbyprompt?x=1`, {
      method: 'POST', body, headers: { 'content-type': 'application/json', 'x-app': 'demo' }, dispatcher: h.client,
    });
    const json = (await res.body.json()) as any;
    expect(res.statusCode).toBe(200);
    expect(json.data.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    const [first, second] = h.vendors.akool.seen.slice(-2);
    expect(second!.method).toBe('POST');
    expect(second!.url).toBe(first!.url);
    expect(second!.headers['x-app']).toBe('demo');
    expect(second!.headers['content-length']).toBe(first!.headers['content-length']);
    expect(second!.token).not.toBe(first!.token);
  });

  it('a second expired answer goes to the client as it is: never more than one retry', async () => {
    h = await startHarness({ kinds: ['akool'] });
    await h.get('/akool/warm');
    // Revoke every token the vendor issues from now on, including the refreshed one.
    const fake = h.vendors.akool;
    const origPush = fake.issued.push.bind(fake.issued);
    fake.issued.push = (...t: string[]) => {
      setImmediate(() => fake.revokeAll());
      return origPush(...t);
    };
    fake.revokeAll();
    const before = fake.counts.requests;
    const res = await h.get('/akool/x');
    expect(res.status).toBe(200);
    expect(res.json.code).toBe(1101);
    expect(fake.counts.requests - before).toBe(2);
  });

  it('200 concurrent requests on a revoked token cause exactly one refresh, and all succeed', async () => {
    h = await startHarness({ kinds: ['hitem3d'] });
    await h.get('/hitem3d/warm');
    h.vendors.hitem3d.revokeAll();
    h.vendors.hitem3d.tokenDelayMs = 50;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => h.get(`/hitem3d/open-api/v1/query-task?task_id=${i}`)));
    expect(results.every((r) => r.status === 200 && r.json.code === 200)).toBe(true);
    expect(h.vendors.hitem3d.counts.tokenFetches).toBe(2);
  });

  it('a body over the replay bound streams through and is not retried', async () => {
    h = await startHarness({ kinds: ['akool'], top: { replay: { maxBytes: 1024 } } });
    await h.get('/akool/warm');
    h.vendors.akool.revokeAll();
    const res = await request(`${h.url}/akool/upload`, { method: 'POST', body: Buffer.alloc(4096, 1), dispatcher: h.client });
    const json = (await res.body.json()) as any;
    expect(json.code).toBe(1101);
    expect(h.vendors.akool.counts.tokenFetches).toBe(1);
  });
});
