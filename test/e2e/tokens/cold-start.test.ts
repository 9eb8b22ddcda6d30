import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('single flight on a cold proxy', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('300 concurrent requests make exactly one token fetch per vendor', async () => {
    h = await startHarness();
    for (const v of Object.values(h.vendors)) v.tokenDelayMs = 100;
    const paths = ['/akool/a', '/hitem3d/b', '/baidu-aiob/c'];
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => h.get(paths[i % 3]!)));
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    for (const v of Object.values(h.vendors)) expect(v.counts.tokenFetches).toBe(1);
  });

  it('a failed fetch reaches every waiting request with its code, is not cached, and the next try backs off', async () => {
    h = await startHarness({ kinds: ['hitem3d'] });
    h.vendors.hitem3d.rejectCredentials(true);
    h.vendors.hitem3d.tokenDelayMs = 100;
    const results = await Promise.all(Array.from({ length: 20 }, () => h.get('/hitem3d/x')));
    for (const r of results) {
      expect(r.status).toBe(502);
      expect(r.json.error.code).toBe('TOKEN_FETCH_FAILED');
      expect(r.json.error.upstream).toBe('hitem3d');
    }
    expect(h.vendors.hitem3d.counts.tokenFetches).toBe(1);
    expect(results[0]!.json.error.message).toContain('40010000');
    // Backing off: the next request does not fetch again.
    const again = await h.get('/hitem3d/x');
    expect(again.json.error.code).toBe('TOKEN_FETCH_FAILED');
    expect(h.vendors.hitem3d.counts.tokenFetches).toBe(1);
  });
});
