/**
 * The onBody hook (the CLI gives V8 heap room while bodies stream: ops/heap-room.ts) hears of
 * every request body as it starts, and of every answer body that streams (not one read whole to
 * look for an expired token, not HEAD, 204 or 304), with its declared length, and of nothing else.
 */
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('onBody hook', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('is called with the declared length, Infinity for a chunked body, and not for a GET or an empty POST', async () => {
    const seen: number[] = [];
    h = await startHarness({ kinds: ['hitem3d'], onBody: (n) => seen.push(n) });
    const url = `${h.url}/hitem3d/open-api/v1/upload`;
    const send = async (opts: Parameters<typeof request>[1]) => (await request(url, { dispatcher: h!.client, ...opts })).body.text();
    await send({ method: 'GET' });
    await send({ method: 'POST', body: '' });
    await send({ method: 'POST', body: Buffer.alloc(100 * 1024, 1) });
    await send({ method: 'POST', body: Buffer.alloc(10, 1) });
    await send({ method: 'POST', body: Readable.from([Buffer.alloc(70 * 1024, 2), Buffer.alloc(5, 3)]) });
    expect(seen).toEqual([100 * 1024, 10, Infinity]);
  });

  it('is called for an answer that streams: a download by its length, an event stream as Infinity; not for HEAD, 204 or 304', async () => {
    const seen: number[] = [];
    h = await startHarness({ kinds: ['hitem3d'], onBody: (n) => seen.push(n) });
    const call = async (path: string, method: 'GET' | 'HEAD' | 'DELETE' = 'GET', headers: Record<string, string> = {}) => {
      const res = await request(`${h!.url}/hitem3d${path}`, { method, headers, dispatcher: h!.client });
      return { status: res.statusCode, body: await res.body.text() };
    };
    expect((await call('/__download?bytes=300000')).body.length).toBe(300000);
    await call('/__sse?events=2&interval=10');
    await call('/__download?bytes=300000', 'HEAD');
    expect((await call('/__t/status/204', 'DELETE')).status).toBe(204);
    expect((await call('/__t/etag', 'GET', { 'if-none-match': '"v1-etag"' })).status).toBe(304);
    expect(seen).toEqual([300000, Infinity]);
  });
});
