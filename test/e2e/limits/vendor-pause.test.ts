/**
 * Keeping to a vendor's own limits: an upstream's `rateLimit` paces calls (and past the queue,
 * 503 OVERLOADED), and a vendor's 429 with Retry-After pauses the calls with that credential
 * (429 UPSTREAM_RATE_LIMITED, at once) rather than hammering it; its own 429 passes unchanged.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';
import { startRelay } from '../../support/helpers.js';

const OTHER: [string, string] = ['acct-other', 'SECRET-other-0a9b8c7d6e5f'];

describe('keeping to a vendor\'s limits', () => {
  let akool: FakeVendor;
  let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
  beforeAll(async () => {
    akool = await startFakeVendor('akool', { accounts: [OTHER] });
  });
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });
  afterAll(async () => akool.close());

  it('a vendor 429 with Retry-After: 2 stops calls with that credential for 2 s; another tenant\'s account goes on', async () => {
    relay = await startRelay({ akool: { prefix: '/akool', target: akool.url, auth: { type: 'akool', ...akool.credentials } } }, {
      tenants: { other: { keys: ['key-other-31415926'], credentials: { akool: { clientId: OTHER[0], clientSecret: OTHER[1] } } } },
      inbound: { apiKeys: ['key-plain-27182818'] },
    });
    const plain = { headers: { 'x-tokenrelay-key': 'key-plain-27182818' } };
    expect((await relay.get('/akool/warm', plain)).status).toBe(200);
    const vendor429 = await relay.get('/akool/__429?retry=2', plain);
    expect([vendor429.status, vendor429.headers['retry-after'], vendor429.json.code]).toEqual([429, '2', 429]);
    const t0 = Date.now();
    const seen = akool.seen.length;
    const paused = await relay.get('/akool/api/x', plain);
    expect([paused.status, paused.json.error.code]).toEqual([429, 'UPSTREAM_RATE_LIMITED']);
    expect(Number(paused.headers['retry-after'])).toBe(2);
    expect(akool.seen.length).toBe(seen);
    // Another credential is not paused.
    expect((await relay.get('/akool/api/x', { headers: { 'x-tokenrelay-key': 'key-other-31415926' } })).status).toBe(200);
    // Until the pause is over, every call with the paused credential is refused at once.
    while (Date.now() - t0 < 1700) {
      expect((await relay.get('/akool/api/x', plain)).json?.error?.code).toBe('UPSTREAM_RATE_LIMITED');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 2100 - (Date.now() - t0))));
    expect((await relay.get('/akool/api/x', plain)).status).toBe(200);
  });

  it('rateLimit paces calls to the vendor\'s rate; past limits.maxQueuePerUpstream waiting, 503 OVERLOADED', async () => {
    relay = await startRelay({
      akool: { prefix: '/akool', target: akool.url, auth: { type: 'akool', ...akool.credentials }, rateLimit: { requestsPerSecond: 5, burst: 1 } },
    }, { limits: { maxQueuePerUpstream: 3 } });
    expect((await relay.get('/akool/warm')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 250));
    const arrivals: number[] = [];
    const seen = akool.seen.length;
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => relay!.get(`/akool/api/paced/${i}`)));
    for (const s of akool.seen.slice(seen)) arrivals.push(Number(/paced\/(\d+)/.exec(s.url)?.[1]));
    const ok = results.filter((r) => r.status === 200).length;
    const overloaded = results.filter((r) => r.json?.error?.code === 'OVERLOADED');
    expect(ok + overloaded.length).toBe(8);
    expect(overloaded.length).toBeGreaterThan(0);
    expect(overloaded[0]!.headers['retry-after']).toBeDefined();
    expect(arrivals.length).toBe(ok);
    const metrics = (await relay.get('/metrics')).text;
    expect(metrics).toMatch(/tokenrelay_upstream_paced_seconds_count\{upstream="akool"\} [1-9]/);
    // The paced calls were spread at the vendor's rate: the last went ≥ (ok - 1) × 200 ms after the first.
    const sum = Number(/tokenrelay_upstream_paced_seconds_sum\{upstream="akool"\} ([\d.]+)/.exec(metrics)?.[1]);
    expect(sum).toBeGreaterThan(0.18 * (ok - 1));
  });
});
