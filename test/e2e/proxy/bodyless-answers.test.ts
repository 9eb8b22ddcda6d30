/**
 * Answers without a body (HEAD, 204, 304, a 200 with content-length: 0 and a JSON type) pass
 * through unchanged on every vendor upstream, also after a refresh; they were 502s once.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

const KINDS = ['akool', 'hitem3d', 'baidu-aiob'] as const;

async function call(h: Harness, method: string, path: string, headers: Record<string, string> = {}) {
  const r = await request(`${h.url}${path}`, { method: method as 'GET', headers, dispatcher: h.client });
  const body = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers, body };
}

describe('answers without a body', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  for (const kind of KINDS) {
    const p = `/${kind}`;
    it(`${kind}: HEAD, DELETE answered 204, 304 and an empty JSON 200 pass through`, async () => {
      h = await startHarness({ kinds: [kind] });
      const head = await call(h, 'HEAD', `${p}/__t/body/json`, { 'accept-encoding': 'gzip' });
      expect(head.status).toBe(200);
      expect(head.headers['content-type']).toMatch(/json/);
      expect(head.body.length).toBe(0);
      const del = await call(h, 'DELETE', `${p}/__t/status/204`);
      expect(del.status).toBe(204);
      expect(del.body.length).toBe(0);
      expect(del.headers['set-cookie']).toHaveLength(2);
      const notModified = await call(h, 'GET', `${p}/__t/etag`, { 'if-none-match': '"v1-etag"' });
      expect(notModified.status).toBe(304);
      expect(notModified.headers.etag).toBe('"v1-etag"');
      const empty = await call(h, 'GET', `${p}/__t/body/empty`);
      expect(empty.status).toBe(200);
      expect(empty.headers['content-length']).toBe('0');
      expect(empty.body.length).toBe(0);
      expect(h.vendors[kind].counts.tokenFetches).toBe(1);
    });

    it(`${kind}: the same after a revoked token was refreshed (body-code signal)`, async () => {
      h = await startHarness({ kinds: [kind] });
      await call(h, 'GET', `${p}/warm`);
      h.vendors[kind].revokeAll();
      expect((await call(h, 'DELETE', `${p}/__t/status/204`)).status).toBe(204);
      expect(h.vendors[kind].counts.tokenFetches).toBe(2);
      h.vendors[kind].revokeAll();
      expect((await call(h, 'GET', `${p}/__t/etag`, { 'if-none-match': '"v1-etag"' })).status).toBe(304);
      h.vendors[kind].revokeAll();
      const empty = await call(h, 'GET', `${p}/__t/body/empty`);
      expect([empty.status, empty.body.length]).toEqual([200, 0]);
      expect(h.vendors[kind].counts.tokenFetches).toBe(4);
    });

    it(`${kind}: HEAD after a refresh, where the vendor signals with HTTP 401 (a HEAD answer has no body code to read)`, async () => {
      h = await startHarness({ kinds: [kind], vendor: { expiredAsHttp401: true } });
      await call(h, 'GET', `${p}/warm`);
      h.vendors[kind].revokeAll();
      const head = await call(h, 'HEAD', `${p}/__t/body/json`);
      expect([head.status, head.body.length]).toEqual([200, 0]);
      expect(h.vendors[kind].counts.tokenFetches).toBe(2);
    });
  }
});
