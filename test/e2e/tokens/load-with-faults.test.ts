import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

/**
 * A test run, not a benchmark: 5,000 requests, 64 at a time, GET and POST across the three
 * vendors, every token revoked every 500 requests, and every fifth token fetch failing. Every
 * request must be answered, and none may fail because a token rotated.
 */
describe('load with faults', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    for (const v of Object.values(h.vendors)) v.failEvery(5, 'http500');
  });
  afterAll(() => h.close());

  it('5,000 requests, 64 concurrent, revocations every 500 and one fetch in five failing: all succeed', async () => {
    const kinds = ['akool', 'hitem3d', 'baidu-aiob'] as const;
    const ok: Record<string, string> = { akool: '1000', hitem3d: '200', 'baidu-aiob': '200' };
    const total = 5000;
    let next = 0;
    let done = 0;
    const failures: string[] = [];
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < total) {
        const n = next++;
        const kind = kinds[n % 3]!;
        const post = n % 2 === 1;
        const res = await request(`${h.url}/${kind}/api/call/${n}`, {
          method: post ? 'POST' : 'GET', dispatcher: h.client,
          ...(post ? { body: JSON.stringify({ n, pad: 'p'.repeat(n % 2000) }), headers: { 'content-type': 'application/json' } } : {}),
        });
        const body = (await res.body.json()) as { code?: unknown; error?: { code: string } };
        if (res.statusCode !== 200 || String(body.code) !== ok[kind]) failures.push(`${n} ${kind} ${res.statusCode} ${JSON.stringify(body).slice(0, 120)}`);
        if (++done % 500 === 0) for (const v of Object.values(h.vendors)) v.revokeAll();
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const fetches = Object.fromEntries(Object.values(h.vendors).map((v) => [v.kind, v.counts.tokenFetches]));
    const retried = h.logs.filter((l) => l.includes('"retried":true')).length;
    // Figures for the record (not asserted: this is a test run, not a benchmark).
    process.stdout.write(`load-with-faults: ${total} requests in ${seconds.toFixed(1)} s (${Math.round(total / seconds)} req/s), `
      + `token fetches ${JSON.stringify(fetches)}, requests resent after a refresh ${retried}, failures ${failures.length}\n`);
    expect(done).toBe(total);
    expect(failures).toEqual([]);
    expect(retried).toBeGreaterThan(0);
  });
});
