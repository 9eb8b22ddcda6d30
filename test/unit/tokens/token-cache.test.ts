import { describe, expect, it } from 'vitest';
import { TokenRelayError } from '../../../src/util/errors.js';
import type { TokenGrant } from '../../../src/tokens/token-answer.js';
import { TokenSource, type FetchEvent } from '../../../src/tokens/token-cache.js';
import { memoryStore } from '../../../src/tokens/token-store.js';

function setup(lifetimeMs = 100_000) {
  const clock = { t: 1_000_000, now() { return this.t; } };
  const events: FetchEvent[] = [];
  let n = 0;
  let fail = false;
  let release: (() => void) | undefined;
  let gate = false;
  const store = memoryStore();
  const src = new TokenSource({
    upstream: 'u', store, clock, random: () => 0.5, onFetch: (e) => events.push(e), skewMs: 1000,
    fetch: async (): Promise<TokenGrant> => {
      n++;
      if (gate) await new Promise<void>((r) => (release = r));
      if (fail) throw new TokenRelayError('TOKEN_FETCH_FAILED', 'token endpoint answered HTTP 500');
      return { token: `t${n}`, lifetimeMs, lifetimeSource: 'answer' };
    },
  });
  return {
    src, clock, events, store,
    fetches: () => n,
    setFail: (v: boolean) => void (fail = v),
    hold: () => void (gate = true),
    open: () => { gate = false; release?.(); },
  };
}

describe('token source', () => {
  it('single flight: concurrent callers share one fetch', async () => {
    const s = setup();
    s.hold();
    const all = Promise.all(Array.from({ length: 50 }, () => s.src.get()));
    s.open();
    expect(new Set(await all)).toEqual(new Set(['t1']));
    expect(s.fetches()).toBe(1);
    s.store.close();
  });

  it('a failure rejects every waiter with the coded error, is not cached, and backs off', async () => {
    const s = setup();
    s.setFail(true);
    s.hold();
    const all = Promise.allSettled(Array.from({ length: 5 }, () => s.src.get()));
    s.open();
    for (const r of await all) {
      expect(r.status).toBe('rejected');
      expect(((r as PromiseRejectedResult).reason as TokenRelayError).code).toBe('TOKEN_FETCH_FAILED');
    }
    expect(s.fetches()).toBe(1);
    await expect(s.src.get()).rejects.toMatchObject({ code: 'TOKEN_FETCH_FAILED' });
    expect(s.fetches()).toBe(1); // backing off: no new fetch
    s.setFail(false);
    s.clock.t += 1000; // first backoff is 1 s with jitter in [0.5, 1)
    expect(await s.src.get()).toBe('t2');
    expect(s.src.status().state).toBe('valid');
  });

  it('backoff grows with failures and is capped (a few fetches a minute at most)', async () => {
    const s = setup();
    s.setFail(true);
    const t0 = s.clock.t;
    for (let i = 0; i < 200; i++) {
      await s.src.get().catch(() => {});
      s.clock.t += 500; // a request every 0.5 s for 100 s
    }
    const perMinute = (s.fetches() / ((s.clock.t - t0) / 60_000));
    expect(perMinute).toBeLessThan(8);
  });

  it('refreshes ahead of expiry in the background; the current token keeps serving', async () => {
    const s = setup(100_000);
    expect(await s.src.get()).toBe('t1');
    s.clock.t += 85_000; // past 80 %: due for refresh
    s.hold();
    expect(await s.src.get()).toBe('t1'); // served without waiting
    s.open();
    await new Promise((r) => setImmediate(r));
    expect(await s.src.get()).toBe('t2');
    expect(s.events.map((e) => e.reason)).toEqual(['cold', 'ahead']);
  });

  it('a failed refresh ahead keeps the current token until it really expires', async () => {
    const s = setup(100_000);
    await s.src.get();
    s.clock.t += 85_000;
    s.setFail(true);
    expect(await s.src.get()).toBe('t1');
    await new Promise((r) => setImmediate(r));
    expect(await s.src.get()).toBe('t1');
    s.clock.t += 15_000; // past expiry (lifetime minus skew)
    await expect(s.src.get()).rejects.toMatchObject({ code: 'TOKEN_FETCH_FAILED' });
  });

  it('renew(rejected) drops only the rejected token: a newer one is used as is', async () => {
    const s = setup();
    const t1 = await s.src.get();
    expect(await s.src.renew(t1)).toBe('t2');
    expect(await s.src.renew(t1)).toBe('t2'); // t1 is already gone: no second refresh
    expect(s.fetches()).toBe(2);
  });

  it('status never includes the token', async () => {
    const s = setup();
    await s.src.get();
    expect(JSON.stringify(s.src.status())).not.toContain('t1');
  });
});
