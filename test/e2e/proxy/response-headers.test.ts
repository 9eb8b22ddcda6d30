// The answer's head as the client gets it: repeats kept (Set-Cookie as separate lines, others
// joined), hop-by-hop headers and any the upstream names in Connection left out, the proxy's
// X-Request-Id added; for small JSON answers (read whole to look for an expired-token code) too.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay } from '../../support/helpers.js';

describe('response headers', () => {
  let api: Server;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  beforeAll(async () => {
    api = createServer((req, res) => {
      const json = req.url === '/json';
      const body = json ? '{"code":1000,"ok":true}' : 'plain text';
      // A raw [name, value, …] head: repeats and odd casing exactly as sent.
      res.writeHead(200, [
        'Set-Cookie', 'a=1; Path=/', 'set-cookie', 'b=2; Path=/',
        'Vary', 'Accept', 'VARY', 'Origin',
        'Connection', 'keep-alive, X-Upstream-Hop',
        'X-Upstream-Hop', 'hop value',
        'Proxy-Authenticate', 'Basic',
        'X-Kept', 'kept',
        'Content-Type', json ? 'application/json' : 'text/plain',
        'Content-Length', String(Buffer.byteLength(body)),
      ]);
      res.end(body);
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    const target = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    relay = await startRelay({ api: { prefix: '/api', target, auth: { type: 'static', header: 'x-api-key', value: 'k' } } });
  });
  afterAll(async () => {
    await relay.close();
    await new Promise((r) => api.close(r));
  });

  for (const path of ['/json', '/plain']) {
    it(`${path}: repeats kept, hop-by-hop and Connection-named headers dropped, X-Request-Id added`, async () => {
      const res = await request(`${relay.url}/api${path}`);
      const body = await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(body).toBe(path === '/json' ? '{"code":1000,"ok":true}' : 'plain text');
      expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
      expect(res.headers.vary).toBe('Accept, Origin');
      expect(res.headers['x-kept']).toBe('kept');
      expect(res.headers['x-upstream-hop']).toBeUndefined();
      expect(res.headers['proxy-authenticate']).toBeUndefined();
      expect(res.headers['x-request-id']).toMatch(/^[\w-]+$/);
      expect(res.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    });
  }
});
