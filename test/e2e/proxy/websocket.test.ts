import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createServer } from 'node:net';
import { startHarness, startRelay, type Harness } from '../../support/helpers.js';

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), {
        status: res.statusCode, code: (JSON.parse(body || '{}') as { error?: { code?: string } }).error?.code,
      })));
    });
    ws.once('error', reject);
  });
}
const next = (ws: WebSocket) => new Promise<string>((r) => ws.once('message', (m) => r(String(m))));

describe('WebSocket upgrades', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('are proxied with the token injected on the upgrade request, and exchange messages', async () => {
    h = await startHarness({ kinds: ['akool'] });
    const ws = await open(`${h.url.replace('http', 'ws')}/akool/ws/stream?x=1`, { Authorization: 'Bearer client-own', 'X-Request-Id': 'ws-req-1' });
    const seen = h.vendors.akool.seen.at(-1)!;
    expect(seen.method).toBe('UPGRADE');
    // The client's request id goes upstream on the upgrade, as on any request.
    expect(seen.headers['x-request-id']).toBe('ws-req-1');
    expect(seen.url).toBe('/ws/stream?x=1');
    expect(seen.token).toBe(h.vendors.akool.issued[0]);
    for (const msg of ['hello', 'second message', 'x'.repeat(100_000)]) {
      const reply = next(ws);
      ws.send(msg);
      expect(await reply).toBe(`echo:${msg}`);
    }
    ws.close();
  });

  it('a revoked token at the handshake is refreshed and the upgrade retried once', async () => {
    h = await startHarness({ kinds: ['hitem3d'] });
    await h.get('/hitem3d/warm');
    h.vendors.hitem3d.revokeAll();
    const ws = await open(`${h.url.replace('http', 'ws')}/hitem3d/ws`);
    const reply = next(ws);
    ws.send('ping');
    expect(await reply).toBe('echo:ping');
    expect(h.vendors.hitem3d.counts.tokenFetches).toBe(2);
    ws.close();
  });

  it('an upstream that cannot be reached at the handshake is UPSTREAM_UNREACHABLE', async () => {
    // A port that was free a moment ago: nothing listens there.
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    const relay = await startRelay({ dead: { prefix: '/dead', target: `http://127.0.0.1:${port}`, auth: { type: 'static', header: 'x-api-key', value: 'k-static-1' } } });
    try {
      await expect(open(`${relay.url.replace('http', 'ws')}/dead/ws`)).rejects.toMatchObject({ status: 502, code: 'UPSTREAM_UNREACHABLE' });
    } finally {
      await relay.close();
    }
  });

  it('goes through the same checks: unknown routes and missing inbound keys are refused', async () => {
    h = await startHarness({ kinds: ['akool'], top: { inbound: { apiKeys: ['k-123456'] } } });
    await expect(open(`${h.url.replace('http', 'ws')}/akool/ws`)).rejects.toMatchObject({ status: 401 });
    await expect(open(`${h.url.replace('http', 'ws')}/nowhere/ws`, { 'X-Tokenrelay-Key': 'k-123456' })).rejects.toMatchObject({ status: 404 });
    const ws = await open(`${h.url.replace('http', 'ws')}/akool/ws`, { 'X-Tokenrelay-Key': 'k-123456' });
    expect(h.vendors.akool.seen.at(-1)!.headers['x-tokenrelay-key']).toBeUndefined();
    ws.close();
  });
});
