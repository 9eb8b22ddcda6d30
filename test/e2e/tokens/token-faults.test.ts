import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('token endpoint faults', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('while the endpoint is down, requests keep coming but fetches do not (backoff), and recovery needs no restart', async () => {
    h = await startHarness({ kinds: ['baidu-aiob'] });
    const fake = h.vendors['baidu-aiob'];
    fake.failTokens('http500');
    const statuses: number[] = [];
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      const r = await h.get('/baidu-aiob/api/v1/did/list');
      statuses.push(r.status);
      expect(r.json.error.code).toBe('TOKEN_FETCH_FAILED');
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(statuses.length).toBeGreaterThan(50);
    // One fetch cycle (a fetch and its one quick retry) per backoff window: 1 s, then 2 s.
    expect(fake.counts.tokenFetches).toBeLessThanOrEqual(4);
    fake.failTokens(null);
    // The backoff window that is running now ends within 2 s; the first request after it is served.
    let served = false;
    const deadline = Date.now() + 3000;
    while (!served && Date.now() < deadline) {
      served = (await h.get('/baidu-aiob/api/v1/did/list')).status === 200;
      if (!served) await new Promise((res) => setTimeout(res, 100));
    }
    expect(served).toBe(true);
  });

  it('one failed fetch among several is retried at once: no request fails for it', async () => {
    h = await startHarness({ kinds: ['akool'] });
    h.vendors.akool.failTokens('http500', 1);
    const r = await h.get('/akool/api/open/v3/voice/list');
    expect(r.status).toBe(200);
    expect(h.vendors.akool.counts.tokenFetches).toBe(2);
  });

  it('a refusal (bad credentials) is not retried at once', async () => {
    h = await startHarness({ kinds: ['hitem3d'] });
    h.vendors.hitem3d.rejectCredentials(true);
    expect((await h.get('/hitem3d/x')).json.error.code).toBe('TOKEN_FETCH_FAILED');
    expect(h.vendors.hitem3d.counts.tokenFetches).toBe(1);
  });
});
