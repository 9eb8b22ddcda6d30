import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, type RelayProcess } from '../../support/child.js';
import { startFakeVendor, type FakeVendor, type VendorKind } from '../../support/fakes/vendor.js';
import { startRedis, type RedisServer } from '../../support/redis.js';

const KEY = randomBytes(32).toString('base64');
const kinds: VendorKind[] = ['akool', 'hitem3d', 'baidu-aiob'];

describe('a token cache shared on Redis', () => {
  let redis: RedisServer;
  let vendors: Record<VendorKind, FakeVendor>;
  let relays: RelayProcess[] = [];
  const client = new Agent({ connections: 256 });

  const yaml = (prefix: string) => `
listen: { port: 0 }
tokenCache: { type: redis, url: "\${REDIS_URL}", keyPrefix: "${prefix}", encryptionKey: "\${TOKENRELAY_CACHE_KEY}" }
upstreams:
${kinds.map((k) => `  ${k}:
    prefix: /${k}
    target: ${vendors[k].url}
    auth: { type: ${k}, ${Object.entries(vendors[k].credentials).map(([n, v]) => `${n}: "${v}"`).join(', ')} }`).join('\n')}
`;
  const start = (n: number, prefix: string, key = KEY) => Promise.all(Array.from({ length: n }, () =>
    startRelayProcess(yaml(prefix), { REDIS_URL: redis.url, TOKENRELAY_CACHE_KEY: key, LOG_LEVEL: 'info' })));
  const call = async (relay: RelayProcess, path: string) => {
    const r = await request(`${relay.url}${path}`, { dispatcher: client });
    return { status: r.statusCode, json: (await r.body.json()) as any };
  };
  const ok = (k: VendorKind, r: { status: number; json: any }) => r.status === 200 && String(r.json.code) === (k === 'akool' ? '1000' : '200');

  beforeAll(async () => {
    redis = await startRedis();
    vendors = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await startFakeVendor(k)] as const))) as Record<VendorKind, FakeVendor>;
  });
  afterEach(async () => {
    await Promise.all(relays.map((r) => r.stop('SIGKILL')));
    relays = [];
  });
  afterAll(async () => {
    await client.close();
    await Promise.all(Object.values(vendors).map((v) => v.close()));
    await redis.stop();
  });

  it('three processes, 300 concurrent cold requests spread over them: exactly one token fetch per vendor', async () => {
    relays = await start(3, 'cold:');
    for (const v of Object.values(vendors)) v.tokenDelayMs = 300;
    const before = Object.fromEntries(kinds.map((k) => [k, vendors[k].counts.tokenFetches]));
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => {
      const k = kinds[i % 3]!;
      return call(relays[Math.floor(i / 3) % 3]!, `/${k}/api/x`).then((r) => ok(k, r));
    }));
    for (const v of Object.values(vendors)) v.tokenDelayMs = 0;
    expect(results.every(Boolean)).toBe(true);
    for (const k of kinds) expect(vendors[k].counts.tokenFetches - before[k]!, k).toBe(1);
  });

  it('three processes, 200 concurrent requests on a revoked token: exactly one refresh, all succeed', async () => {
    relays = await start(3, 'revoke:');
    const v = vendors.hitem3d;
    for (const r of relays) expect(ok('hitem3d', await call(r, '/hitem3d/warm'))).toBe(true);
    v.revokeAll();
    v.tokenDelayMs = 200;
    const before = v.counts.tokenFetches;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => call(relays[i % 3]!, `/hitem3d/open-api/v1/query-task?task_id=${i}`)));
    v.tokenDelayMs = 0;
    expect(results.filter((r) => !ok('hitem3d', r))).toEqual([]);
    expect(v.counts.tokenFetches - before).toBe(1);
  });

  it('stores tokens encrypted, with their expiry as TTL; a replica with another key fetches its own instead of failing', async () => {
    relays = await start(1, 'enc:');
    await call(relays[0]!, '/baidu-aiob/api/v1/did/list');
    const r = new Redis(redis.url);
    try {
      const keys = await r.keys('enc:token:*');
      expect(keys.length).toBe(1);
      const value = (await r.get(keys[0]!))!;
      const token = vendors['baidu-aiob'].issued.at(-1)!;
      expect(value).not.toContain(token);
      expect(value).not.toContain(vendors['baidu-aiob'].credentials.secretKey);
      const ttl = await r.pttl(keys[0]!);
      expect(ttl).toBeGreaterThan(29 * 86400_000);
      expect(ttl).toBeLessThanOrEqual(30 * 86400_000);
    } finally {
      r.disconnect();
    }
    const before = vendors['baidu-aiob'].counts.tokenFetches;
    const [other] = await start(1, 'enc:', randomBytes(32).toString('base64'));
    relays.push(other!);
    expect(ok('baidu-aiob', await call(other!, '/baidu-aiob/api/v1/did/list'))).toBe(true);
    expect(vendors['baidu-aiob'].counts.tokenFetches - before).toBe(1);
  });

  it('Redis killed in the middle of traffic: no request fails; it is logged once, in a metric and /readyz; it comes back', async () => {
    relays = await start(1, 'kill:');
    const relay = relays[0]!;
    let n = 0;
    const failures: string[] = [];
    const traffic = Promise.all(Array.from({ length: 16 }, async () => {
      while (n < 900) {
        const i = n++;
        const k = kinds[i % 3]!;
        if (i === 400) for (const v of Object.values(vendors)) v.revokeAll(); // a refresh while Redis is down
        const r = await call(relay, `/${k}/api/y/${i}`);
        if (!ok(k, r)) failures.push(`${i} ${r.status} ${JSON.stringify(r.json).slice(0, 100)}`);
      }
    }));
    while (n < 300) await new Promise((r) => setTimeout(r, 5));
    await redis.kill();
    while (n < 600) await new Promise((r) => setTimeout(r, 5));
    const down = await call(relay, '/readyz');
    expect(down.status).toBe(200);
    expect(down.json.tokenCache).toEqual({ type: 'redis', state: 'down' });
    const metrics = await (await request(`${relay.url}/metrics`, { dispatcher: client })).body.text();
    expect(metrics).toMatch(/^tokenrelay_token_cache_up 0$/m);
    await redis.start();
    await traffic;
    expect(failures).toEqual([]);
    let state = '';
    for (let i = 0; i < 50 && state !== 'up'; i++) {
      state = (await call(relay, '/readyz')).json.tokenCache.state;
      if (state !== 'up') await new Promise((r) => setTimeout(r, 100));
    }
    expect(state).toBe('up');
    expect(relay.stdout.filter((l) => l.includes('"event":"token_cache_down"')).length).toBe(1);
    expect(relay.stdout.some((l) => l.includes('"event":"token_cache_up"'))).toBe(true);
  });
});
