import { describe, expect, it } from 'vitest';
import { localCounters } from '../../../src/limits/local.js';
import type { Admission } from '../../../src/limits/policy.js';
import { quotaWindow } from '../../../src/limits/windows.js';
import { retryAfterMs } from '../../../src/util/retry-after.js';

const clock = (t0: number) => {
  const c = { t: t0, now: () => c.t };
  return c;
};
const oks = (xs: Admission[]) => xs.filter((a) => a.ok).length;

describe('limits counted in this process', () => {
  it('a token bucket: the burst at once, then the rate, refilled continuously; a refusal counts nothing', () => {
    const c = clock(1_000_000);
    const l = localCounters({ now: c.now });
    const spec = { name: 't', rate: { perSecond: 10, burst: 5 } };
    expect(oks(Array.from({ length: 8 }, () => l.admit(spec)))).toBe(5);
    const refused = l.admit(spec);
    expect(refused).toEqual({ ok: false, reason: 'rate', retryAfterMs: 100 });
    c.t += 250; // 2.5 tokens
    expect(oks(Array.from({ length: 5 }, () => l.admit(spec)))).toBe(2);
    c.t += 10_000; // never above the burst
    expect(oks(Array.from({ length: 20 }, () => l.admit(spec)))).toBe(5);
  });

  it('calls in flight: refused at the limit, the slot back on release (once, however often it is called)', () => {
    const l = localCounters({ now: () => 0 });
    const spec = { name: 't', concurrent: 2 };
    const a = l.admit(spec);
    const b = l.admit(spec);
    expect(l.admit(spec)).toMatchObject({ ok: false, reason: 'concurrency' });
    if (a.ok) {
      a.release();
      a.release();
    }
    expect(l.admit(spec).ok).toBe(true);
    expect(l.admit(spec).ok).toBe(false);
    void b;
  });

  it('a calendar quota in UTC: exactly its count, then refused until the period ends; a new period starts at zero', () => {
    const c = clock(Date.UTC(2026, 0, 31, 23, 59, 50));
    const l = localCounters({ now: c.now });
    const spec = { name: 't', quota: { requests: 3, per: 'month' as const } };
    expect(oks(Array.from({ length: 5 }, () => l.admit(spec)))).toBe(3);
    expect(l.admit(spec)).toEqual({ ok: false, reason: 'quota', retryAfterMs: 10_000 });
    expect(l.quota(spec)).toEqual({ requests: 3, per: 'month', used: 3, remaining: 0, resetsInSeconds: 10 });
    c.t = Date.UTC(2026, 1, 1, 0, 0, 1);
    expect(oks(Array.from({ length: 5 }, () => l.admit(spec)))).toBe(3);
  });

  it('as the fallback, each limit is this replica\'s share, and a quota goes on from the fleet\'s count', () => {
    const c = clock(Date.UTC(2026, 5, 10));
    const l = localCounters({ now: c.now, divisor: () => 3 });
    expect(oks(Array.from({ length: 30 }, () => l.admit({ name: 'r', rate: { perSecond: 30, burst: 30 } })))).toBe(10);
    expect(oks(Array.from({ length: 10 }, () => l.admit({ name: 'c', concurrent: 7 })))).toBe(2);
    const q = { name: 'q', quota: { requests: 100, per: 'day' as const } };
    l.seedQuota('q', quotaWindow('day', c.t).id, 70);
    // 30 left for the fleet: this replica's share is 10.
    expect(oks(Array.from({ length: 20 }, () => l.admit(q)))).toBe(10);
  });

  it('pacing (GCRA): the burst goes at once, then one slot per interval', () => {
    const c = clock(0);
    const l = localCounters({ now: c.now });
    const waits = Array.from({ length: 5 }, () => l.reserve('u', { perSecond: 5, burst: 2 }));
    expect(waits).toEqual([0, 0, 200, 400, 600]);
    c.t = 2000;
    expect(l.reserve('u', { perSecond: 5, burst: 2 })).toBe(0);
  });
});

describe('quota windows and Retry-After', () => {
  it('calendar periods in UTC, each with its id and end', () => {
    const t = Date.UTC(2026, 11, 31, 23, 59, 30);
    expect(quotaWindow('month', t)).toEqual({ id: '2026-12', endsAt: Date.UTC(2027, 0, 1) });
    expect(quotaWindow('day', t)).toEqual({ id: '2026-12-31', endsAt: Date.UTC(2027, 0, 1) });
    expect(quotaWindow('hour', t)).toEqual({ id: '2026-12-31T23', endsAt: Date.UTC(2027, 0, 1) });
    expect(quotaWindow('minute', t)).toEqual({ id: '2026-12-31T23:59', endsAt: Date.UTC(2027, 0, 1) });
  });

  it('Retry-After as seconds or an HTTP-date; nonsense and the past are ignored; capped at an hour', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs(new Date(now + 5000).toUTCString(), now)).toBe(5000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(new Date(now - 5000).toUTCString(), now)).toBeUndefined();
    expect(retryAfterMs('86400', now)).toBe(3_600_000);
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs('0', now)).toBe(0);
  });
});
