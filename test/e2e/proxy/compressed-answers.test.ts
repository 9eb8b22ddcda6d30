/**
 * Vendors behind nginx or a CDN compress JSON for every client that asks. The expired-token
 * code must be found inside gzip, x-gzip, deflate, br and chains of them, for every auth type;
 * answers that are not expired signals reach the client as the vendor's own bytes; a bomb or an
 * unknown coding is never inflated.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFakeOAuth2, type FakeOAuth2 } from '../../support/fakes/oauth2.js';
import { listenLoopback, type Listening } from '../../support/fakes/listen.js';
import { encode, type Coding } from '../../support/fakes/nginx.js';
import { startHarness, startRelay, type Harness } from '../../support/helpers.js';

const ASK = { 'accept-encoding': 'gzip, deflate, br' };
const KINDS = ['akool', 'hitem3d', 'baidu-aiob'] as const;
const CODINGS: Array<Coding | Coding[]> = ['gzip', 'x-gzip', 'deflate', 'br', ['gzip', 'br'], ['deflate', 'gzip']];
const label = (c: Coding | Coding[]) => (Array.isArray(c) ? c.join(', ') : c);

describe('compressed answers: the expired-token code is found', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  for (const kind of KINDS) {
    it.each(CODINGS.map((c) => [label(c), c] as const))(`${kind}: a revoked token answered in %s is refreshed and resent`, async (_l, coding) => {
      h = await startHarness({ kinds: [kind], vendor: { compress: coding } });
      const path = `/${kind}/api/thing`;
      await h.get(path, ASK);
      h.vendors[kind].revokeAll();
      const res = await request(`${h.url}${path}`, { headers: ASK, dispatcher: h.client });
      const raw = Buffer.from(await res.body.arrayBuffer());
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-encoding']).toBe(label(coding));
      expect(h.vendors[kind].counts.tokenFetches).toBe(2);
      expect(h.vendors[kind].seen.at(-1)!.token).toBe(h.vendors[kind].issued[1]);
      expect(raw.length).toBeGreaterThan(0);
    });
  }

  it('a plain fetch() (which asks for gzip, deflate, br) gets the answer after a revocation, not the expired code', async () => {
    h = await startHarness({ kinds: ['akool'] });
    await fetch(`${h.url}/akool/api/open/v3/x`).then((r) => r.arrayBuffer());
    h.vendors.akool.revokeAll();
    const r = await fetch(`${h.url}/akool/api/open/v3/x`);
    const json = (await r.json()) as { code: number };
    expect(json.code).toBe(1000);
    expect(h.vendors.akool.counts.tokenFetches).toBe(2);
  });

  it('an answer that is not an expired signal reaches the client byte for byte, coding unchanged', async () => {
    h = await startHarness({ kinds: ['akool'], vendor: { compress: 'gzip' } });
    const gz = { 'accept-encoding': 'gzip' };
    const through = await request(`${h.url}/akool/__t/body/json`, { headers: gz, dispatcher: h.client });
    const bytes = Buffer.from(await through.body.arrayBuffer());
    const direct = await request(`${h.vendors.akool.url}/__t/body/json`, { headers: { ...gz, authorization: `Bearer ${h.vendors.akool.issued[0]}` } });
    expect(through.headers['content-encoding']).toBe('gzip');
    expect(bytes.equals(Buffer.from(await direct.body.arrayBuffer()))).toBe(true);
    expect(JSON.parse(gunzipSync(bytes).toString()).code).toBe(1000);
  });

  it.each(CODINGS.map((c) => [label(c), c] as const))('WebSocket: a handshake refused with HTTP 200 and a body code in %s is refreshed and upgraded', async (_l, coding) => {
    h = await startHarness({ kinds: ['akool'], vendor: { wsExpired: 'body', compress: coding } });
    await h.get('/akool/warm');
    h.vendors.akool.revokeAll();
    const ws = new WebSocket(`${h.url.replace('http', 'ws')}/akool/ws`, { headers: ASK });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_q, r) => reject(new Error(`HTTP ${r.statusCode}`)));
      ws.once('error', reject);
    });
    const reply = new Promise<string>((r) => ws.once('message', (m) => r(String(m))));
    ws.send('hi');
    expect(await reply).toBe('echo:hi');
    expect(h.vendors.akool.counts.tokenFetches).toBe(2);
    ws.close();
  });
});

describe('compressed answers: oauth2', () => {
  let fake: FakeOAuth2;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  afterEach(async () => {
    await relay.close();
    await fake.close();
  });
  const upstream = () => ({ api: { prefix: '/o', target: fake.url, auth: { type: 'oauth2', tokenUrl: `${fake.url}/oauth/token`, clientId: fake.clientId, clientSecret: fake.clientSecret } } });

  const STYLES = ['body-401', 'body-200'] as const;
  it.each(STYLES.flatMap((style) => (['gzip', 'deflate', 'br'] as const).map((c) => [style, c] as const)))('an invalid_token JSON error body (%s) in %s refreshes', async (style, coding) => {
    fake = await startFakeOAuth2();
    fake.expiredStyle = style;
    relay = await startRelay(upstream());
    await relay.get('/o/api/things', { headers: { 'accept-encoding': coding } });
    fake.revokeAll();
    const r = await request(`${relay.url}/o/api/things`, { headers: { 'accept-encoding': coding } });
    expect(r.headers['content-encoding']).toBe(coding);
    await r.body.dump();
    expect(r.statusCode).toBe(200);
    expect(fake.tokenFetches).toBe(2);
  });

  it('a Bearer 401 whose compressed body names insufficient_scope is not an expired signal', async () => {
    fake = await startFakeOAuth2();
    relay = await startRelay(upstream());
    const r = await relay.get('/o/api/scope-in-body', { headers: { 'accept-encoding': 'gzip' } });
    expect(r.status).toBe(401);
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(fake.tokenFetches).toBe(1);
  });
});

/** A custom token API whose answers the test writes, to send any coding, a bomb, or junk. */
async function startCustomVendor(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const counts = { tokens: 0, calls: 0 };
  const server = createServer((req, res) => {
    if (req.url === '/token') {
      counts.tokens++;
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ ok: true, token: `t${counts.tokens}` }));
    }
    counts.calls++;
    req.resume();
    // The fresh token always works: only the first one is "expired".
    if (req.headers.authorization === `Bearer t${counts.tokens}` && counts.tokens > 1) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"errcode":0}');
    }
    answer(req, res);
  });
  const l: Listening = await listenLoopback(server);
  return { ...l, counts };
}
const customAuth = (url: string) => ({
  prefix: '/c', target: url,
  auth: {
    type: 'custom', credentials: { key: 'k-secret' },
    request: { url: `${url}/token`, body: { type: 'json', fields: { key: '{key}' } } },
    response: { token: 'token' },
    expiredWhen: { bodyCodePath: 'errcode', bodyCodes: ['E_SESSION'] },
  },
});

describe('compressed answers: custom type, bombs and unknown codings', () => {
  let vendor: Awaited<ReturnType<typeof startCustomVendor>>;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  afterEach(async () => {
    await relay.close();
    await vendor.close();
  });
  const sendCoded = (res: ServerResponse, body: Buffer, ce: string) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': ce, 'content-length': body.length });
    res.end(body);
  };

  it.each(CODINGS.map((c) => [label(c), c] as const))('custom: the body code in %s is found', async (_l, coding) => {
    vendor = await startCustomVendor((_q, res) => sendCoded(res, encode(Buffer.from('{"errcode":"E_SESSION"}'), [coding].flat()), label(coding)));
    relay = await startRelay({ c: customAuth(vendor.url) });
    const r = await relay.get('/c/x');
    expect(r.json).toEqual({ errcode: 0 });
    expect(vendor.counts.tokens).toBe(2);
  });

  it('a compression bomb is inflated no further than inspectBytes and passes through untouched', async () => {
    // 64 MiB of JSON in ~64 KiB of gzip, the expired code at its start: past inspectBytes it is
    // not an expired-token answer (none is that large), so no refresh, and the bytes go on as sent.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"errcode":"E_SESSION","pad":"'), Buffer.alloc(64 * 1024 * 1024, 48), Buffer.from('"}')]), { level: 9 });
    expect(bomb.length).toBeLessThan(64 * 1024);
    vendor = await startCustomVendor((_q, res) => sendCoded(res, bomb, 'gzip'));
    relay = await startRelay({ c: customAuth(vendor.url) });
    const before = process.memoryUsage().rss;
    const r = await request(`${relay.url}/c/x`);
    const got = Buffer.from(await r.body.arrayBuffer());
    expect(got.equals(bomb)).toBe(true);
    expect(vendor.counts.tokens).toBe(1);
    // Generous: inflating it would take 64 MiB.
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 * 1024);
  });

  it.each(['zstd', 'compress', 'gzip, zstd'])('an unknown coding (%s) is not inspected and passes through untouched', async (ce) => {
    const body = Buffer.from('{"errcode":"E_SESSION"}');
    vendor = await startCustomVendor((_q, res) => sendCoded(res, body, ce));
    relay = await startRelay({ c: customAuth(vendor.url) });
    const r = await request(`${relay.url}/c/x`);
    expect(r.headers['content-encoding']).toBe(ce);
    expect(Buffer.from(await r.body.arrayBuffer()).equals(body)).toBe(true);
    expect(vendor.counts.tokens).toBe(1);
  });

  it('a corrupt gzip body is not inspected and passes through untouched', async () => {
    const body = gzipSync('{"errcode":"E_SESSION"}').subarray(0, 12);
    vendor = await startCustomVendor((_q, res) => sendCoded(res, body, 'gzip'));
    relay = await startRelay({ c: customAuth(vendor.url) });
    const r = await request(`${relay.url}/c/x`);
    expect(Buffer.from(await r.body.arrayBuffer()).equals(body)).toBe(true);
    expect(vendor.counts.tokens).toBe(1);
  });
});
