/**
 * A bounded slow-client flood (loopback, under 30 s): hundreds of connections that never finish
 * their head and hundreds that stall mid-body, while a normal client keeps calling. Every normal
 * request is answered 200 throughout: no reset, no 503.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';
import { rawClient, type RawClient } from '../../support/raw.js';

describe('slow-client flood', () => {
  let h: Harness | undefined;
  const flood: RawClient[] = [];
  afterEach(async () => {
    for (const c of flood.splice(0)) c.socket.destroy();
    await h?.close();
    h = undefined;
  });

  it('300 half-open heads and 300 stalled bodies: normal requests still get 200, and the flood is shed by its timeouts', async () => {
    h = await startHarness({
      kinds: ['akool'],
      top: { limits: { headersTimeout: '2s', clientBodyTimeout: '2s', maxConcurrentPerUpstream: 64, maxQueuePerUpstream: 0 } },
    });
    const open = async (text: string) => {
      const c = rawClient(h!.url);
      flood.push(c);
      await c.connected;
      c.write(text);
    };
    for (let i = 0; i < 300; i++) {
      await open('GET /akool/x HTTP/1.1\r\nHost: x\r\nX-Never-Ends: ');
      await open('POST /akool/api/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    }
    const statuses: number[] = [];
    const errors: string[] = [];
    const until = Date.now() + 4_000;
    while (Date.now() < until) {
      try {
        const r = await request(`${h.url}/akool/api/open/v3/voice/list`, { dispatcher: h.client });
        await r.body.dump();
        statuses.push(r.statusCode);
      } catch (err) {
        errors.push((err as { code?: string }).code ?? String(err));
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(errors).toEqual([]);
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Every flood connection is answered 408 and closed by tokenrelay (its timeouts are 2 s).
    const shed = () => flood.every((c) => c.closed);
    expect(await flood[0]!.until(shed, 10_000)).toBe(true);
    expect(h.vendors.akool.seen.filter((s) => s.url === '/api/x')).toEqual([]);
  });
});
