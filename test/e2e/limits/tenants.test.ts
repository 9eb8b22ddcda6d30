/**
 * Tenants: each key its own vendor account, its own allow-list and its own limits, in one
 * process (the fleet on Redis: fleet-limits.test.ts). The fake Akool knows three accounts and
 * records whose token each call carried.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';
import { codeOf, rawClient, statusOf } from '../../support/raw.js';
import { startRelay } from '../../support/helpers.js';

const KEYS = { checkout: 'key-checkout-7f3a9c21', search: 'key-search-5e8b1d04', shared: 'key-shared-2c6e9a77', plain: 'key-plain-9d4f0b13' };
const ACCOUNTS: Record<string, [string, string]> = {
  checkout: ['acct-checkout', 'SECRET-checkout-1a2b3c4d5e6f'],
  search: ['acct-search', 'SECRET-search-6f5e4d3c2b1a'],
};

describe('tenants', () => {
  let akool: FakeVendor;
  let hitem: FakeVendor;
  let relay: Awaited<ReturnType<typeof startRelay>> | undefined;

  beforeAll(async () => {
    akool = await startFakeVendor('akool', { accounts: Object.values(ACCOUNTS) });
    hitem = await startFakeVendor('hitem3d');
  });
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });
  afterAll(async () => {
    await akool.close();
    await hitem.close();
  });

  const start = (tenants: Record<string, unknown>, top: Record<string, unknown> = {}) => startRelay({
    akool: { prefix: '/akool', target: akool.url, auth: { type: 'akool', ...akool.credentials } },
    hitem3d: { prefix: '/hitem3d', target: hitem.url, auth: { type: 'hitem3d', ...hitem.credentials } },
  }, { inbound: { apiKeys: [KEYS.plain] }, tenants, ...top });
  const as = (key: string, path: string, init: { method?: string } = {}) => relay!.get(path, { headers: { 'x-tokenrelay-key': key }, ...init });
  const lastAccount = () => akool.seen.at(-1)?.account;
  const own = (name: 'checkout' | 'search') => ({ clientId: ACCOUNTS[name]![0], clientSecret: ACCOUNTS[name]![1] });

  it('two tenants with their own Akool accounts never see each other\'s tokens; a tenant without one uses the upstream\'s', async () => {
    relay = await start({
      checkout: { keys: [KEYS.checkout], credentials: { akool: own('checkout') } },
      search: { keys: [KEYS.search], credentials: { akool: own('search') } },
      shared: { keys: [KEYS.shared] },
    });
    const calls = await Promise.all(Array.from({ length: 60 }, (_, i) => {
      const who = (['checkout', 'search', 'shared'] as const)[i % 3]!;
      return as(KEYS[who], `/akool/api/open/v3/content/video/${i}`).then((r) => ({ who, r, i }));
    }));
    for (const { r } of calls) expect(r.status).toBe(200);
    const byUrl = new Map(akool.seen.map((s) => [s.url, s.account]));
    for (const { who, i } of calls) {
      const expected = who === 'shared' ? akool.credentials.clientId : ACCOUNTS[who]![0];
      expect(byUrl.get(`/api/open/v3/content/video/${i}`), `${who} ${i}`).toBe(expected);
    }
    // One fetch per account (each its own single flight).
    expect(akool.fetchesBy).toMatchObject({ 'acct-checkout': 1, 'acct-search': 1, [akool.credentials.clientId!]: 1 });
    // A plain inbound key (no tenant) uses the upstream's account.
    expect((await as(KEYS.plain, '/akool/api/x')).status).toBe(200);
    expect(lastAccount()).toBe(akool.credentials.clientId);
  });

  it('a tenant\'s revoked token is refreshed once while another tenant\'s calls go on untouched', async () => {
    relay = await start({
      checkout: { keys: [KEYS.checkout], credentials: { akool: own('checkout') } },
      search: { keys: [KEYS.search], credentials: { akool: own('search') } },
    });
    await as(KEYS.checkout, '/akool/warm');
    await as(KEYS.search, '/akool/warm');
    const before = { ...akool.fetchesBy };
    akool.revokeAccount('acct-checkout');
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => as(i % 2 ? KEYS.checkout : KEYS.search, `/akool/api/open/v3/x/${i}`)));
    expect(results.filter((r) => r.status !== 200 || r.json.code !== 1000)).toEqual([]);
    expect(akool.fetchesBy['acct-checkout']! - before['acct-checkout']!).toBe(1);
    expect(akool.fetchesBy['acct-search']).toBe(before['acct-search']);
  });

  it('upstreams and allow narrow what a tenant may call (403 NOT_ALLOWED); missing own credentials are 503 CREDENTIALS_MISSING, never the upstream\'s account', async () => {
    relay = await start({
      checkout: { keys: [KEYS.checkout], upstreams: ['akool'], allow: { akool: ['POST /api/open/v3/content/'] } },
      search: { keys: [KEYS.search], credentials: { akool: { clientId: 'acct-search', clientSecret: '${UNSET_SECRET}' } } },
    });
    expect((await as(KEYS.checkout, '/hitem3d/open-api/v1/x')).json.error.code).toBe('NOT_ALLOWED');
    expect((await as(KEYS.checkout, '/akool/api/open/v3/voice/list')).json.error.code).toBe('NOT_ALLOWED');
    expect((await as(KEYS.checkout, '/akool/api/open/v3/content/video/create', { method: 'POST' })).status).toBe(200);
    const seen = akool.seen.length;
    const r = await as(KEYS.search, '/akool/api/x');
    expect([r.status, r.json.error.code]).toEqual([503, 'CREDENTIALS_MISSING']);
    expect(akool.seen.length).toBe(seen);
  });

  it('a rate limit answers 429 TENANT_RATE_LIMITED with Retry-After and RateLimit headers before any byte goes upstream; other tenants go on', async () => {
    relay = await start({
      checkout: { keys: [KEYS.checkout], limits: { requestsPerSecond: 2, burst: 3 } },
      search: { keys: [KEYS.search] },
    });
    const seen = akool.seen.length;
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await as(KEYS.checkout, `/akool/api/r/${i}`));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429, 429]);
    const refused = answers[3]!;
    expect(refused.json.error.code).toBe('TENANT_RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers['ratelimit-policy']).toBe('"rate";q=2;w=1');
    expect(refused.headers.ratelimit).toMatch(/^"rate";r=0;t=\d+$/);
    expect(akool.seen.length - seen).toBe(3);
    expect((await as(KEYS.search, '/akool/api/other')).status).toBe(200);
    // Refilled continuously: half a second later there is one more call.
    await new Promise((r) => setTimeout(r, 600));
    expect((await as(KEYS.checkout, '/akool/api/after')).status).toBe(200);
  });

  it('a refusal comes before the body is read: a 4 MiB upload over quota is answered 429 at once and its connection closed; with Expect: 100-continue no 100 is sent', async () => {
    relay = await start({ checkout: { keys: [KEYS.checkout], limits: { quota: { requests: 1, per: 'day' } } } });
    expect((await as(KEYS.checkout, '/akool/api/x')).status).toBe(200);
    const seen = akool.seen.length;
    for (const expect100 of [false, true]) {
      const c = rawClient(relay.url);
      await c.connected;
      c.write(`POST /akool/api/upload HTTP/1.1\r\nHost: x\r\nX-Tokenrelay-Key: ${KEYS.checkout}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${4 * 1024 * 1024}\r\n${expect100 ? 'Expect: 100-continue\r\n' : ''}\r\n`);
      // Not a byte of the body is sent: the answer must not wait for it.
      expect(await c.until(() => c.closed, 3000), `expect100=${expect100}: closed after the answer`).toBe(true);
      expect(statusOf(c.text)).toBe(429);
      expect(codeOf(c.text)).toBe('QUOTA_EXCEEDED');
      expect(c.text).not.toContain('100 Continue');
      expect(c.text.toLowerCase()).toContain('retry-after:');
      c.socket.destroy();
    }
    expect(akool.seen.length).toBe(seen);
  });

  it('a tenant\'s revoked token behind a compressed expired-token answer is still refreshed once', async () => {
    relay = await start({ checkout: { keys: [KEYS.checkout], credentials: { akool: own('checkout') } } });
    const gz = { 'x-tokenrelay-key': KEYS.checkout, 'accept-encoding': 'gzip, br' };
    expect((await relay.get('/akool/warm', { headers: gz })).status).toBe(200);
    const before = akool.fetchesBy['acct-checkout']!;
    akool.revokeAccount('acct-checkout');
    const r = await relay.get('/akool/api/open/v3/x', { headers: gz });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBeDefined();
    expect(akool.fetchesBy['acct-checkout']).toBe(before + 1);
  });

  it('concurrent calls past the limit are 429 TENANT_RATE_LIMITED; the slot comes back when a call ends', async () => {
    relay = await start({ checkout: { keys: [KEYS.checkout], limits: { concurrent: 2 } } });
    const slow = [as(KEYS.checkout, '/akool/__slow?ms=400'), as(KEYS.checkout, '/akool/__slow?ms=400')];
    await new Promise((r) => setTimeout(r, 100));
    const third = await as(KEYS.checkout, '/akool/api/x');
    expect([third.status, third.json.error.code]).toEqual([429, 'TENANT_RATE_LIMITED']);
    expect(third.headers['ratelimit-policy']).toBe('"concurrency";q=2;qu="concurrent-requests"');
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200]);
    expect((await as(KEYS.checkout, '/akool/api/x')).status).toBe(200);
  });

  it('a quota stops at exactly its count with 429 QUOTA_EXCEEDED until the period ends; calls the vendor refuses count', async () => {
    relay = await start({ checkout: { keys: [KEYS.checkout], limits: { quota: { requests: 5, per: 'month' } } } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await as(KEYS.checkout, '/akool/api/ok')).status);
    // A call the vendor answers 404 still counts.
    statuses.push((await as(KEYS.checkout, '/akool/__t/status/404')).status);
    statuses.push((await as(KEYS.checkout, '/akool/api/ok')).status);
    const over = await as(KEYS.checkout, '/akool/api/ok');
    expect(statuses).toEqual([200, 200, 200, 404, 200]);
    expect([over.status, over.json.error.code]).toEqual([429, 'QUOTA_EXCEEDED']);
    const now = new Date();
    const monthEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    expect(Math.abs(Number(over.headers['retry-after']) - (monthEnd - Date.now()) / 1000)).toBeLessThan(5);
    expect(over.headers['ratelimit-policy']).toBe('"quota";q=5;w=2592000');
    expect(over.headers.ratelimit).toMatch(/^"quota";r=0;t=\d+$/);
  });

  it('usage per tenant in /metrics, the tenant in the access log, each tenant\'s accounts and quota in /readyz; no key anywhere', async () => {
    relay = await start({
      checkout: { keys: [KEYS.checkout], credentials: { akool: own('checkout') }, limits: { requestsPerSecond: 100, quota: { requests: 1000, per: 'day' } } },
    }, { readiness: { requireTokens: false } });
    expect((await relay.get('/akool/api/x', { headers: { 'x-tokenrelay-key': KEYS.checkout }, method: 'POST', body: 'x'.repeat(1000) })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    const metrics = (await as(KEYS.checkout, '/metrics')).text;
    expect(metrics).toContain('tokenrelay_tenant_requests_total{tenant="checkout",upstream="akool",outcome="2xx"} 1');
    expect(metrics).toContain('tokenrelay_tenant_bytes_total{tenant="checkout",upstream="akool",direction="in"} 1000');
    expect(metrics).toMatch(/tokenrelay_tenant_bytes_total\{tenant="checkout",upstream="akool",direction="out"\} [1-9]/);
    expect(metrics).toContain('tokenrelay_tenant_token_fetches_total{tenant="checkout",upstream="akool",outcome="success"} 1');
    const access = relay.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.path === '/akool/api/x');
    expect(access.tenant).toBe('checkout');
    const ready = (await as(KEYS.checkout, '/readyz')).json;
    expect(ready.tenants.checkout.accounts.akool).toMatchObject({ credentials: 'present', token: { state: 'valid' } });
    expect(ready.tenants.checkout.quota).toMatchObject({ requests: 1000, per: 'day', used: 1, remaining: 999 });
    const everything = [metrics, JSON.stringify(ready), ...relay.logs].join('\n');
    for (const secret of [...Object.values(KEYS), ACCOUNTS.checkout![1], ...akool.issued]) expect(everything).not.toContain(secret);
  });

  it('a reload applies tenant changes to new requests, and the counts survive it', async () => {
    relay = await start({ checkout: { keys: [KEYS.checkout], limits: { quota: { requests: 3, per: 'day' } } } });
    for (let i = 0; i < 2; i++) expect((await as(KEYS.checkout, '/akool/api/x')).status).toBe(200);
    const { compileConfig } = await import('../../../src/config/load.js');
    relay.relay.reload(compileConfig({
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: {
        akool: { prefix: '/akool', target: akool.url, auth: { type: 'akool', ...akool.credentials } },
        hitem3d: { prefix: '/hitem3d', target: hitem.url, auth: { type: 'hitem3d', ...hitem.credentials } },
      },
      tenants: {
        checkout: { keys: [KEYS.checkout], upstreams: ['akool'], limits: { quota: { requests: 3, per: 'day' } } },
        search: { keys: [KEYS.search] },
      },
    }, { env: {} }));
    expect((await as(KEYS.search, '/akool/api/x')).status).toBe(200);
    expect((await as(KEYS.checkout, '/hitem3d/x')).json.error.code).toBe('NOT_ALLOWED');
    expect((await as(KEYS.checkout, '/akool/api/x')).status).toBe(200);
    expect((await as(KEYS.checkout, '/akool/api/x')).json.error.code).toBe('QUOTA_EXCEEDED');
  });
});
