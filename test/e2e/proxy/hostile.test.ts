import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';
import { codeOf as code, raw, statusOf as status } from '../../support/raw.js';

/** Hostile request targets and headers: the token only ever goes to the configured target. */
describe('hostile input', () => {
  let h: Harness;
  let trap: Server;
  let trapHits = 0;
  let trapHost = '';
  beforeAll(async () => {
    h = await startHarness();
    trap = createServer((_req, res) => {
      trapHits++;
      res.end();
    });
    trap.on('connection', () => trapHits++);
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    trapHost = `127.0.0.1:${(trap.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await h.close();
    await new Promise((r) => trap.close(r));
    // The proof: across every attack in this file, nothing ever reached the trap.
    expect(trapHits).toBe(0);
  });


  it('absolute-form request target → 400, never routed', async () => {
    const a = await raw(h.url, `GET http://${trapHost}/akool/x HTTP/1.1\r\nHost: ${trapHost}\r\n\r\n`);
    expect(status(a)).toBe(400);
    expect(code(a)).toBe('BAD_REQUEST');
  });

  it('authority-form and asterisk targets → 400', async () => {
    expect(status(await raw(h.url, `OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n`))).toBe(400);
    expect(status(await raw(h.url, `GET //${trapHost}/akool HTTP/1.1\r\nHost: x\r\n\r\n`))).toBe(400);
  });

  it('CONNECT → 405', async () => {
    const a = await raw(h.url, `CONNECT ${trapHost} HTTP/1.1\r\nHost: ${trapHost}\r\n\r\n`);
    expect(status(a)).toBe(405);
    expect(code(a)).toBe('METHOD_NOT_ALLOWED');
  });

  it.each([
    '/akool/../hitem3d/open-api/v1/balance',
    '/akool/..%2fhitem3d/open-api/v1/balance',
    '/akool/%2e%2e/hitem3d/x',
    '/akool/.%2E%2Fhitem3d',
    '/akool/..%5chitem3d',
    '/akool/./x',
    '/akool/x%00.json',
    // A fragment: an upstream URL parser cuts at # and resolves what is before it.
    '/akool/api/open/v3/voice/..#x',
    '/akool/api/open/v3/voice/.#x',
    '/akool/api/open/v3/voice/x#frag',
    '/akool/x?q=1#frag',
    // Path parameters hide dot segments from some parsers and not from servlet containers.
    '/akool/..;/hitem3d/x',
    '/akool/api/..;x/y',
    '/akool/.;/x',
    '/akool/%2e%2e;/x',
  ])('a path that climbs out of its prefix → 400 BAD_PATH: %s', async (path) => {
    const before = h.vendors.akool.counts.requests + h.vendors.hitem3d.counts.requests;
    const a = await raw(h.url, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(status(a)).toBe(400);
    expect(code(a)).toBe('BAD_PATH');
    expect(h.vendors.akool.counts.requests + h.vendors.hitem3d.counts.requests).toBe(before);
  });

  it.each(['TRACE', 'TRACK'])('%s → 405, never forwarded (it would echo the injected token)', async (method) => {
    const before = h.vendors.akool.counts.requests;
    const a = await raw(h.url, `${method} /akool/api/open/v3/voice/list HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(status(a)).toBe(405);
    expect(code(a)).toBe('METHOD_NOT_ALLOWED');
    expect(h.vendors.akool.counts.requests).toBe(before);
  });

  it('a ; that is not part of a dot segment passes byte-for-byte', async () => {
    const a = await raw(h.url, `GET /akool/files/a;v=1/b..c HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(status(a)).toBe(200);
    expect(h.vendors.akool.seen.at(-1)!.url).toBe('/files/a;v=1/b..c');
  });

  it('Connection naming a header the proxy sets (X-Request-Id, X-Forwarded-For) cannot strip it upstream', async () => {
    const a = await raw(h.url, `GET /akool/x HTTP/1.1\r\nHost: x\r\nConnection: X-Request-Id, X-Forwarded-For, Authorization\r\nX-Request-Id: mine-123\r\n\r\n`);
    expect(status(a)).toBe(200);
    const seen = h.vendors.akool.seen.at(-1)!;
    expect(seen.headers['x-request-id']).toBe('mine-123');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.token).toBe(h.vendors.akool.issued.at(-1));
  });

  it('an encoded slash that is not a dot segment still passes byte-for-byte', async () => {
    const a = await raw(h.url, `GET /akool/files/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(status(a)).toBe(200);
    expect(h.vendors.akool.seen.at(-1)!.url).toBe('/files/a%2Fb');
  });

  it('a forged Host or X-Forwarded-Host changes nothing: the configured target gets the request', async () => {
    const before = h.vendors.akool.counts.requests;
    const a = await raw(h.url, `GET /akool/x HTTP/1.1\r\nHost: ${trapHost}\r\nX-Forwarded-Host: ${trapHost}\r\nForwarded: host=${trapHost}\r\n\r\n`);
    expect(status(a)).toBe(200);
    expect(h.vendors.akool.counts.requests).toBe(before + 1);
    const seen = h.vendors.akool.seen.at(-1)!.headers;
    expect(seen.host).toBe(new URL(h.vendors.akool.url).host);
    expect(seen.forwarded).toBeUndefined();
  });

  it('two Host headers → 400', async () => {
    expect(status(await raw(h.url, `GET /akool/x HTTP/1.1\r\nHost: a\r\nHost: ${trapHost}\r\n\r\n`))).toBe(400);
  });

  it.each([
    ['Content-Length with Transfer-Encoding', 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['two equal Content-Lengths', 'Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello'],
    ['a Content-Length list', 'Content-Length: 5, 5\r\n\r\nhello'],
    ['an unknown transfer coding', 'Transfer-Encoding: gzip\r\n\r\nabc'],
  ])('request smuggling: %s → 400, never forwarded', async (_name, rest) => {
    const before = h.vendors.hitem3d.counts.requests;
    const a = await raw(h.url, `POST /hitem3d/open-api/v1/submit-task HTTP/1.1\r\nHost: x\r\n${rest}`);
    expect(status(a)).toBe(400);
    expect(h.vendors.hitem3d.counts.requests).toBe(before);
  });

  it('a request head over limits.maxHeaderBytes → 431', async () => {
    const a = await raw(h.url, `GET /akool/x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(status(a)).toBe(431);
  });
});
