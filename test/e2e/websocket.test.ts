import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startHarness, type Harness } from '../helpers.js';

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}
const next = (ws: WebSocket) => new Promise<string>((r) => ws.once('message', (m) => r(String(m))));

describe('WebSocket upgrades', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('are proxied with the token injected on the upgrade request, and exchange messages', async () => {
    h = await startHarness({ kinds: ['akool'] });
    const ws = await open(`${h.url.replace('http', 'ws')}/akool/ws/stream?x=1`, { Authorization: 'Bearer client-own' });
    const seen = h.vendors.akool.seen.at(-1)!;
    expect(seen.method).toBe('UPGRADE');
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

  it('goes through the same checks: unknown routes and missing inbound keys are refused', async () => {
    h = await startHarness({ kinds: ['akool'], top: { inbound: { apiKeys: ['k-123456'] } } });
    await expect(open(`${h.url.replace('http', 'ws')}/akool/ws`)).rejects.toMatchObject({ status: 401 });
    await expect(open(`${h.url.replace('http', 'ws')}/nowhere/ws`, { 'X-Tokenrelay-Key': 'k-123456' })).rejects.toMatchObject({ status: 404 });
    const ws = await open(`${h.url.replace('http', 'ws')}/akool/ws`, { 'X-Tokenrelay-Key': 'k-123456' });
    expect(h.vendors.akool.seen.at(-1)!.headers['x-tokenrelay-key']).toBeUndefined();
    ws.close();
  });
});
