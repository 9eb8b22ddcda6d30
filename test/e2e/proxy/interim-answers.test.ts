/**
 * RFC 9110 §15.2: a client must parse and ignore 1xx answers it did not ask for and wait for the
 * final one. A vendor (or a proxy in front of it) that sends `100 Continue` to every request, or
 * `103 Early Hints`, must not turn into 502 UPSTREAM_UNREACHABLE.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay } from '../../support/helpers.js';

/** A raw HTTP/1.1 upstream: a token endpoint, and API answers preceded by the given interim heads. */
async function rawUpstream(interim: string) {
  const sockets = new Set<Socket>();
  let tokens = 0;
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, end);
        const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = buf.slice(end + 4 + len);
        if (head.includes(' /token ')) {
          tokens++;
          const body = JSON.stringify({ token: `t${tokens}` });
          s.write(`${interim}HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
          continue;
        }
        // The first token is "expired" (body code), as a vendor behind such a proxy would say it.
        const body = head.includes('Bearer t1') ? '{"code":"E_EXPIRED"}' : '{"code":"OK"}';
        s.write(`${interim}HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    tokens: () => tokens,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

describe('interim (1xx) answers from the upstream', () => {
  let up: Awaited<ReturnType<typeof rawUpstream>>;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  afterEach(async () => {
    await relay.close();
    await up.close();
  });

  it.each([
    ['100 Continue', 'HTTP/1.1 100 Continue\r\n\r\n'],
    ['103 Early Hints', 'HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n'],
    ['100 then 103', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\n'],
  ])('%s before the final answer is ignored: the final answer (and a refresh on it) go through', async (_n, interim) => {
    up = await rawUpstream(interim);
    relay = await startRelay({
      c: {
        prefix: '/c', target: up.url,
        auth: {
          type: 'custom', credentials: { k: 'secret-k' }, request: { url: `${up.url}/token` }, response: { token: 'token' },
          expiredWhen: { bodyCodePath: 'code', bodyCodes: ['E_EXPIRED'] },
        },
      },
    });
    // The first token's answer is an expired signal: refreshed, resent, answered; all behind 1xx.
    const first = await relay.get('/c/x', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect([first.status, first.json]).toEqual([200, { code: 'OK' }]);
    expect(up.tokens()).toBe(2);
    // And again on the kept-alive connection.
    for (let i = 0; i < 3; i++) expect((await relay.get('/c/y')).json).toEqual({ code: 'OK' });
  });
});
