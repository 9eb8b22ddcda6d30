import { Readable } from 'node:stream';
import { request as undiciRequest } from 'undici';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('limits', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('a body over limits.maxBodyBytes → 413 BODY_TOO_LARGE (declared length: before any upstream call)', async () => {
    h = await startHarness({ kinds: ['hitem3d'], top: { limits: { maxBodyBytes: '1KiB' } } });
    const res = await request(h.url).post('/hitem3d/open-api/v1/submit-task').send(Buffer.alloc(2048, 1)).expect(413);
    expect(res.body.error.code).toBe('BODY_TOO_LARGE');
    expect(h.vendors.hitem3d.counts.requests).toBe(0);
  });

  it('a chunked body that grows past limits.maxBodyBytes → 413, and the proxy goes on serving', async () => {
    h = await startHarness({ kinds: ['hitem3d'], top: { limits: { maxBodyBytes: '64KiB' } } });
    async function* body() {
      for (let i = 0; i < 8; i++) yield Buffer.alloc(32 * 1024, 1);
    }
    const res = await undiciRequest(`${h.url}/hitem3d/open-api/v1/submit-task`, { method: 'POST', body: Readable.from(body()), dispatcher: h.client }).catch((e: Error) => e);
    if (!(res instanceof Error)) {
      expect(res.statusCode).toBe(413);
      expect(((await res.body.json()) as any).error.code).toBe('BODY_TOO_LARGE');
    }
    expect((await h.get('/hitem3d/open-api/v1/balance')).status).toBe(200);
  });

  it('past maxConcurrentPerUpstream requests wait; past the queue → 503 OVERLOADED with Retry-After', async () => {
    h = await startHarness({ kinds: ['akool'], top: { limits: { maxConcurrentPerUpstream: 2, maxQueuePerUpstream: 2 } } });
    await h.get('/akool/warm');
    const slow = Array.from({ length: 4 }, () => h.get('/akool/__slow?ms=400'));
    await new Promise((r) => setTimeout(r, 100));
    const rejected = await h.get('/akool/x');
    expect(rejected.status).toBe(503);
    expect(rejected.json.error.code).toBe('OVERLOADED');
    expect(rejected.headers['retry-after']).toBe('1');
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect((await h.get('/akool/x')).status).toBe(200);
  });
});
