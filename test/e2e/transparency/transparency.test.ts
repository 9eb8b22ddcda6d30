/**
 * Through tokenrelay equals direct. Every row of the table is sent twice, by each real client:
 * directly to a fake vendor (with the token tokenrelay would inject) and through tokenrelay
 * (with none); status, body bytes and every end-to-end header must come back the same.
 *
 * Where tokenrelay differs, by name:
 * - hop-by-hop headers (connection, keep-alive, transfer-encoding…): per connection, RFC 9110 §7.6.1;
 * - `x-request-id`: added by tokenrelay to every answer (checked present);
 * - `date`: the time of each answer, so only its presence is compared;
 * - the injected token: sent upstream, never returned (the direct call carries it itself);
 * - a 401 from Akool: an expired-token signal by that vendor's rules, so it is refreshed and
 *   resent (test/e2e/tokens/refresh-retry.test.ts); the table sends its 401 row to the oauth2 upstream,
 *   where a Bearer challenge naming `invalid_request` is not one;
 * - a 429 with Retry-After comes back as it is, but pauses the calls after it with that
 *   credential until then (test/e2e/limits/vendor-pause.test.ts): it is the table's last row,
 *   and each client's rows go through a tokenrelay of their own.
 * The akool rows are sent a third way too: by a tenant with its own Akool account and limits
 * (none of them refusing), with tracing on for every request. Its key is never forwarded, its
 * limits add no header to an answer they let through, and traces change no answer.
 * Nothing else: an early answer before a large body is read, and a client that sends its body
 * slowly, come back the same too (the last rows).
 * Every relay runs with the CLI's heap room (ops/heap-room.ts) on its onBody hook, as
 * `tokenrelay` does: on Node 20 the V8 flag it sets changes no answer either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOAuth2, type FakeOAuth2 } from '../../support/fakes/oauth2.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';
import { startRelay } from '../../support/helpers.js';
import { startFakeCollector, type FakeCollector } from '../../support/fakes/otlp.js';
import { CLIENTS, type Answer, type Req } from './clients.js';
import { createHeapRoom } from '../../../src/ops/heap-room.js';

interface Row { name: string; method?: string; path: string; headers?: Record<string, string>; body?: Buffer; slow?: boolean; only?: 'oauth2' }

const JSON_BODY = Buffer.from(JSON.stringify({ prompt: 'a cat', n: 1 }));
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const STATUSES = [200, 201, 202, 204, 301, 302, 307, 308, 400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503];
const BODIES = ['none', 'empty', 'json', 'large-json', 'chunked', 'gzip', 'br', 'deflate', 'sse', 'binary'];

const ROWS: Row[] = [
  ...METHODS.map((method): Row => ({
    name: `${method}`, method, path: '/__t/method',
    ...(['POST', 'PUT', 'PATCH'].includes(method) ? { body: JSON_BODY, headers: { 'content-type': 'application/json' } } : {}),
  })),
  ...STATUSES.filter((s) => s !== 429).map((s): Row => ({ name: `status ${s}`, method: s === 204 ? 'DELETE' : 'GET', path: `/__t/status/${s}`, ...(s === 401 ? { only: 'oauth2' as const } : {}) })),
  { name: 'status 206 (Range)', path: '/__t/range', headers: { range: 'bytes=10-19' } },
  { name: 'status 304 (If-None-Match)', path: '/__t/etag', headers: { 'if-none-match': '"v1-etag"' } },
  ...BODIES.map((b): Row => ({ name: `body ${b}`, path: `/__t/body/${b}` })),
  // Request bodies the way real clients and vendors meet them.
  { name: 'early 413 before a 4 MiB body is read', method: 'POST', path: '/__t/early', body: Buffer.alloc(4 * 1024 * 1024, 1), headers: { 'content-type': 'application/octet-stream' } },
  { name: 'slow client, 8 KiB body', method: 'POST', path: '/__t/echo', body: Buffer.alloc(8 * 1024, 2), slow: true, headers: { 'content-type': 'application/octet-stream' } },
  { name: 'slow client, 256 KiB body', method: 'POST', path: '/__t/echo', body: Buffer.alloc(256 * 1024, 3), slow: true, headers: { 'content-type': 'application/octet-stream' } },
  // Last: it pauses the calls after it (Retry-After: 7).
  { name: 'status 429', path: '/__t/status/429' },
];

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/** What must be equal: status, body, end-to-end headers (stable-sorted by name, repeats kept). */
function comparable(a: Answer, through: boolean) {
  const headers = a.headers
    .filter(([k]) => !HOP_BY_HOP.has(k) && k !== 'date' && !(through && k === 'x-request-id'))
    .map(([k, v]) => `${k}: ${v}`);
  headers.sort((x, y) => x.split(':')[0]!.localeCompare(y.split(':')[0]!));
  return { status: a.status, headers, body: a.body.toString('base64'), hasDate: a.headers.some(([k]) => k === 'date') };
}

describe('transparency: through tokenrelay equals direct', () => {
  let akool: FakeVendor;
  let oauth: FakeOAuth2;
  let collector: FakeCollector;
  const upstreams: Array<{ name: 'akool' | 'oauth2' | 'akool, as a tenant'; prefix: string; direct: () => string; token: () => string; fetches: () => number; key?: string }> = [];
  const TENANT_KEY = 'key-transparency-tenant-93a1c7';
  const OWN: [string, string] = ['acct-transparency', 'SECRET-transparency-4e5f6a7b8c9d'];

  beforeAll(async () => {
    akool = await startFakeVendor('akool', { accounts: [OWN] });
    oauth = await startFakeOAuth2();
    collector = await startFakeCollector();
    upstreams.push(
      { name: 'akool', prefix: '/akool', direct: () => akool.url, token: () => akool.issued.at(-1)!, fetches: () => akool.counts.tokenFetches },
      { name: 'oauth2', prefix: '/o', direct: () => oauth.url, token: () => oauth.issued.at(-1)!, fetches: () => oauth.tokenFetches },
      { name: 'akool, as a tenant', prefix: '/akool', direct: () => akool.url, token: () => akool.issued.at(-1)!, fetches: () => akool.counts.tokenFetches, key: TENANT_KEY },
    );
  });
  afterAll(async () => {
    heapRoom.stop();
    await akool.close();
    await oauth.close();
    await collector.close();
  });

  /** A tokenrelay of its own per client (a 429 pauses its credential), warmed: its token is known. */
  // The CLI's heap room, on this process's V8 (given back to V8's own factor, as this worker
  // had it); every body it hears of is kept, to check that the rows went through it.
  const heard: number[] = [];
  const heapRoom = createHeapRoom({ v8Major: Number(process.versions.v8.split('.')[0]), execArgv: process.execArgv });
  const onBody = (n: number) => {
    heard.push(n);
    heapRoom.body(n);
  };

  async function freshRelay(asTenant: boolean) {
    const relay = await startRelay({
      akool: { prefix: '/akool', target: akool.url, auth: { type: 'akool', ...akool.credentials } },
      oauth2: { prefix: '/o', target: oauth.url, auth: { type: 'oauth2', tokenUrl: `${oauth.url}/oauth/token`, clientId: oauth.clientId, clientSecret: oauth.clientSecret } },
    }, asTenant ? {
      tenants: {
        t: {
          keys: [TENANT_KEY], credentials: { akool: { clientId: OWN[0], clientSecret: OWN[1] } },
          limits: { requestsPerSecond: 10_000, burst: 10_000, concurrent: 1000, quota: { requests: 1_000_000, per: 'day' } },
        },
      },
      tracing: { endpoint: collector.url, sampleRatio: 1 },
    } : {}, { onBody });
    const key = asTenant ? { headers: { 'x-tokenrelay-key': TENANT_KEY } } : {};
    expect((await relay.get('/akool/warm', key)).status).toBe(200);
    if (!asTenant) expect((await relay.get('/o/api/warm')).status).toBe(200);
    return relay;
  }

  for (const upstream of ['akool', 'oauth2', 'akool, as a tenant'] as const) {
    for (const client of CLIENTS) {
      it(`${upstream}, ${client.name}: every row (methods, statuses, bodies) equals direct`, async () => {
        const u = upstreams.find((x) => x.name === upstream)!;
        const rows = ROWS.filter((r) => !r.only || r.only === upstream);
        const req = (r: Row, base: string, auth: boolean): Req => ({
          method: r.method ?? 'GET', url: `${base}${r.path}`,
          headers: { ...r.headers, ...(auth ? { authorization: `Bearer ${u.token()}` } : u.key ? { 'x-tokenrelay-key': u.key } : {}) },
          ...(r.body ? { body: r.body } : {}), ...(r.slow ? { slow: true } : {}),
        });
        const relay = await freshRelay(u.key !== undefined);
        const heardBefore = heard.length;
        const seen = akool.seen.length;
        const fetched = u.fetches();
        const direct = await client.run(rows.map((r) => req(r, u.direct(), true)));
        const through = await client.run(rows.map((r) => req(r, `${relay.url}${u.prefix}`, false))).finally(() => relay.close());
        const mismatches: unknown[] = [];
        rows.forEach((r, i) => {
          const d = comparable(direct[i]!, false);
          const t = comparable(through[i]!, true);
          if (JSON.stringify(d) !== JSON.stringify(t)) mismatches.push({ row: r.name, direct: d, through: t });
          if (!through[i]!.headers.some(([k]) => k === 'x-request-id')) mismatches.push({ row: r.name, missing: 'x-request-id' });
        });
        expect(mismatches).toEqual([]);
        // The rows went through the heap room: the 4 MiB body by its length, streamed answers (and
        // the slow clients' bodies, which fetch and requests send chunked) as Infinity.
        expect(heard.slice(heardBefore)).toEqual(expect.arrayContaining([4 * 1024 * 1024, Infinity]));
        // The same token served every row: nothing in the table is an expired signal.
        expect(u.fetches()).toBe(fetched);
        if (u.key) {
          // Every row sent through went with the tenant's own account (the relay's calls are the
          // ones with an X-Request-Id), and the tenant's key never reached the vendor.
          const through = akool.seen.slice(seen).filter((x) => x.headers['x-request-id'] !== undefined);
          expect(through.length).toBeGreaterThanOrEqual(rows.length);
          expect([...new Set(through.map((x) => x.account))]).toEqual([OWN[0]]);
          expect(akool.seen.slice(seen).filter((x) => x.headers['x-tokenrelay-key'] !== undefined)).toEqual([]);
        }
      });
    }
  }

  it('the table covers every method, status and body shape it names', () => {
    expect(ROWS.map((r) => r.name)).toEqual(expect.arrayContaining([...METHODS, ...STATUSES.map((s) => `status ${s}`), 'status 206 (Range)', 'status 304 (If-None-Match)', ...BODIES.map((b) => `body ${b}`), 'early 413 before a 4 MiB body is read', 'slow client, 256 KiB body']));
  });
});
