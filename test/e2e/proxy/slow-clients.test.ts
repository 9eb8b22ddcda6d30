/**
 * Clients that never finish a head, hold connections, or send too many header lines: each is
 * bounded and coded, and never reaches an upstream. Raw sockets, loopback, bounded in time.
 */
import type { Socket } from 'node:net';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';
import { codeOf as code, raw, rawClient, statusOf as status } from '../../support/raw.js';

/** Writes `text` on a new connection; what came back, and whether the server closed it within `maxMs`. */
async function hold(url: string, text: string, maxMs: number) {
  const c = rawClient(url);
  if (text) c.write(text);
  const closed = await c.until(() => c.closed, maxMs);
  if (!closed) c.socket.destroy();
  return { answer: c.text, closed };
}

describe('clients that never finish', () => {
  let h: Harness | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await h?.close();
    h = undefined;
  });

  it('limits.headersTimeout: a head not complete in time gets 408 REQUEST_TIMEOUT and the connection is closed', async () => {
    h = await startHarness({ kinds: ['akool'], top: { limits: { headersTimeout: '500ms' } } });
    const partial = await hold(h.url, 'GET /akool/x HTTP/1.1\r\nHost: x\r\nX-Slow: ', 5_000);
    expect(status(partial.answer)).toBe(408);
    expect(code(partial.answer)).toBe('REQUEST_TIMEOUT');
    expect(partial.closed).toBe(true);
    // A connection that sends nothing at all is closed too.
    const silent = await hold(h.url, '', 5_000);
    expect(silent.closed).toBe(true);
    expect(h.vendors.akool.counts.requests).toBe(0);
    // A kept-alive connection keeps its own (idle) timeout: a normal request on it still works.
    await request(h.url).get('/akool/x').expect(200);
  });

  it('limits.maxHeaderCount: more header lines get 431 HEADERS_TOO_LARGE, never a forwarded request', async () => {
    h = await startHarness({ kinds: ['akool'], top: { limits: { maxHeaderBytes: '64KiB' } } });
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `h${i}:v\r\n`).join('');
    const many = await raw(h.url, `GET /akool/x HTTP/1.1\r\nHost: x\r\n${lines(150)}\r\n`);
    expect(status(many)).toBe(431);
    expect(code(many)).toBe('HEADERS_TOO_LARGE');
    // Past Node's own cut (2,000), a Content-Length would have been lost and the body dropped.
    const body = '{"a":1}';
    const past = await raw(h.url, `POST /akool/x HTTP/1.1\r\nHost: x\r\n${lines(2100)}Content-Length: ${body.length}\r\n\r\n${body}`);
    expect(status(past)).toBe(431);
    expect(h.vendors.akool.counts.requests).toBe(0);
    const ok = await raw(h.url, `GET /akool/x HTTP/1.1\r\nHost: x\r\n${lines(90)}\r\n`);
    expect(status(ok)).toBe(200);
  });

  it('limits.maxConnections: past it new connections are closed at once, counted; the admin port keeps answering', async () => {
    h = await startHarness({ kinds: ['akool'], top: { limits: { maxConnections: 5 }, admin: { port: 0 } } });
    const admin = `http://127.0.0.1:${h.relay.adminAddress()!.port}`;
    for (let i = 0; i < 5; i++) {
      const c = rawClient(h.url);
      sockets.push(c.socket);
      await c.connected;
    }
    await new Promise((r) => setTimeout(r, 100));
    const refused = await hold(h.url, 'GET /akool/x HTTP/1.1\r\nHost: x\r\n\r\n', 3_000);
    expect(refused.closed).toBe(true);
    expect(refused.answer).toBe('');
    await request(admin).get('/healthz').expect(200);
    await request(admin).get('/readyz').expect(200);
    const metrics = await request(admin).get('/metrics').expect(200);
    expect(metrics.text).toMatch(/^tokenrelay_connections_refused_total [1-9]/m);
    // Room again once one closes.
    sockets.shift()!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(status(await raw(h.url, 'GET /akool/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))).toBe(200);
  });
});
