/**
 * Tenant limits held by a fleet: three tokenrelay processes on one real redis-server. A rate
 * limit is the fleet's (not three times it), a quota stops at exactly its count, and Redis
 * killed in the middle of the load makes nothing fail (each replica counts its share).
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, type RelayProcess } from '../../support/child.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';
import { startRedis, type RedisServer } from '../../support/redis.js';

const CACHE_KEY = randomBytes(32).toString('base64');
const TENANT_KEY = 'key-fleet-tenant-8a7b6c5d';

describe('tenant limits across a fleet on Redis', () => {
  let redis: RedisServer;
  let akool: FakeVendor;
  let relays: RelayProcess[] = [];
  const client = new Agent({ connections: 64 });

  const yaml = (prefix: string, limits: string) => `
listen: { port: 0 }
tokenCache: { type: redis, url: "\${REDIS_URL}", keyPrefix: "${prefix}", encryptionKey: "\${CACHE_KEY}" }
upstreams:
  akool:
    prefix: /akool
    target: ${akool.url}
    auth: { type: akool, clientId: "${akool.credentials.clientId}", clientSecret: "${akool.credentials.clientSecret}" }
tenants:
  fleet:
    keys: ["\${TENANT_KEY}"]
    limits: ${limits}
`;
  const start = (prefix: string, limits: string) => Promise.all(Array.from({ length: 3 }, () =>
    startRelayProcess(yaml(prefix, limits), { REDIS_URL: redis.url, CACHE_KEY, TENANT_KEY, LOG_LEVEL: 'info' })));
  const call = async (relay: RelayProcess, path: string) => {
    const r = await request(`${relay.url}${path}`, { dispatcher: client, headers: { 'x-tokenrelay-key': TENANT_KEY } });
    const json = (await r.body.json()) as { code?: number; error?: { code: string } };
    return { status: r.statusCode, code: json.error?.code ?? json.code };
  };
  /** `per` concurrent loops on each replica, calling until `until()`; every answer. */
  const load = async (per: number, until: () => boolean, path = '/akool/api/load', seen?: (a: { status: number; code: unknown }) => void) => {
    const answers: Array<{ status: number; code: unknown; at: number }> = [];
    await Promise.all(relays.flatMap((r) => Array.from({ length: per }, async () => {
      while (!until()) {
        const a = { ...(await call(r, path).catch(() => ({ status: 0, code: 'NETWORK' }))), at: Date.now() };
        answers.push(a);
        seen?.(a);
      }
    })));
    return answers;
  };

  beforeAll(async () => {
    redis = await startRedis();
    akool = await startFakeVendor('akool');
  });
  afterEach(async () => {
    await Promise.all(relays.map((r) => r.stop('SIGKILL')));
    relays = [];
  });
  afterAll(async () => {
    await client.close();
    await akool.close();
    await redis.stop();
  });

  it('a rate limit of 50/s held by 3 replicas allows 50 ± 5 % a second across the fleet over 10 s', async () => {
    relays = await start('rate:', '{ requestsPerSecond: 50, burst: 5 }');
    for (const r of relays) await call(r, '/akool/warm');
    await new Promise((r) => setTimeout(r, 500)); // the bucket refills from the warm-up
    const seen = akool.seen.length;
    const t0 = Date.now();
    const answers = await load(6, () => Date.now() - t0 >= 10_000);
    const secs = (Date.now() - t0) / 1000;
    const ok = answers.filter((a) => a.status === 200).length;
    const refused = answers.filter((a) => a.code === 'TENANT_RATE_LIMITED').length;
    const perSecond = Array.from({ length: 10 }, (_, i) => answers.filter((a) => a.status === 200 && a.at - t0 >= i * 1000 && a.at - t0 < (i + 1) * 1000).length);
    process.stdout.write(`fleet rate: ${ok} allowed in ${secs.toFixed(1)} s (${(ok / secs).toFixed(1)}/s), ${refused} refused; per second ${perSecond.join(' ')}\n`);
    expect(answers.filter((a) => a.status !== 200 && a.code !== 'TENANT_RATE_LIMITED')).toEqual([]);
    expect(akool.seen.length - seen).toBe(ok);
    // The burst (5) is spent at the start; after it, 50 a second.
    expect((ok - 5) / secs).toBeGreaterThanOrEqual(47.5);
    expect((ok - 5) / secs).toBeLessThanOrEqual(52.5);
    expect(refused).toBeGreaterThan(ok); // the load was well over the limit
  });

  it('a high rate (200/s: taken from Redis in leases of up to 10 ms worth) holds within 5 % too', async () => {
    relays = await start('lease:', '{ requestsPerSecond: 200, burst: 10 }');
    for (const r of relays) await call(r, '/akool/warm');
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const answers = await load(8, () => Date.now() - t0 >= 4000);
    const secs = (Date.now() - t0) / 1000;
    const ok = answers.filter((a) => a.status === 200).length;
    process.stdout.write(`fleet leased rate: ${ok} allowed in ${secs.toFixed(1)} s (${(ok / secs).toFixed(0)}/s) of ${answers.length}\n`);
    expect(answers.filter((a) => a.status !== 200 && a.code !== 'TENANT_RATE_LIMITED')).toEqual([]);
    expect(answers.length - ok).toBeGreaterThan(0); // the load was over the limit
    expect((ok - 10) / secs).toBeLessThanOrEqual(200 * 1.05);
    expect((ok - 10) / secs).toBeGreaterThanOrEqual(200 * 0.95);
  });

  it('a rate with a quota (checked in Redis on every call, not leased) holds within 5 % too', async () => {
    relays = await start('ratequota:', '{ requestsPerSecond: 30, burst: 5, quota: { requests: 1000000, per: day } }');
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const answers = await load(4, () => Date.now() - t0 >= 3000);
    const secs = (Date.now() - t0) / 1000;
    const ok = answers.filter((a) => a.status === 200).length;
    expect(answers.filter((a) => a.status !== 200 && a.code !== 'TENANT_RATE_LIMITED')).toEqual([]);
    expect((ok - 5) / secs).toBeGreaterThanOrEqual(30 * 0.95);
    expect((ok - 5) / secs).toBeLessThanOrEqual(30 * 1.05);
  });

  it('a monthly quota stops at exactly its count across replicas', async () => {
    relays = await start('quota:', '{ quota: { requests: 120, per: month } }');
    const seen = akool.seen.length;
    const t0 = Date.now();
    let exceeded = 0;
    // The loops stop once refusals have come 48 times (every loop refused twice, on average).
    const answers = await load(8, () => exceeded >= 48 || Date.now() - t0 > 20_000, '/akool/api/quota', (a) => {
      if (a.code === 'QUOTA_EXCEEDED') exceeded++;
    });
    function tally(xs: typeof answers) {
      return { ok: xs.filter((a) => a.status === 200).length, over: xs.filter((a) => a.code === 'QUOTA_EXCEEDED').length, other: xs.filter((a) => a.status !== 200 && a.code !== 'QUOTA_EXCEEDED') };
    }
    const t = tally(answers);
    expect(t.other).toEqual([]);
    expect(t.ok).toBe(120);
    expect(akool.seen.length - seen).toBe(120);
    expect(t.over).toBeGreaterThanOrEqual(48);
    expect(exceeded).toBeGreaterThanOrEqual(48);
  }, 30_000);

  it('Redis killed in the middle of the load: no request fails; the replicas count their share and say so', async () => {
    // Limits this load never reaches, even on a replica's share alone (a third): what is under
    // test is that losing Redis fails nothing. At 2,000/s, a quiet machine ran each replica past
    // its 667/s share, and the 429s it then answered were right (the share is unit-tested).
    relays = await start('kill:', '{ requestsPerSecond: 100000, concurrent: 200, quota: { requests: 1000000, per: day } }');
    for (const r of relays) expect((await call(r, '/akool/warm')).status).toBe(200);
    const t0 = Date.now();
    const killer = new Promise<void>((resolve) => setTimeout(() => void redis.kill().then(resolve), 1500));
    const answers = await load(4, () => Date.now() - t0 >= 4000);
    await killer;
    expect(answers.length).toBeGreaterThan(100);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    await new Promise((r) => setTimeout(r, 200));
    for (const r of relays) expect(r.stdout.join('\n')).toContain('"event":"limits_fallback"');
    await redis.start();
  }, 30_000);
});
