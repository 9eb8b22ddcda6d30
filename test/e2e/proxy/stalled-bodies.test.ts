/**
 * Request bodies that stall, and `Expect: 100-continue`: a client that stops mid-body holds no
 * upstream slot for long (limits.clientBodyTimeout, 408), and a client waiting for 100 gets it
 * only once nothing can refuse its request. Raw sockets, loopback, bounded in time.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';
import { codeOf as code, raw, rawClient as client, statusOf as status } from '../../support/raw.js';


describe('stalled request bodies (limits.clientBodyTimeout)', () => {
  let h: Harness | undefined;
  const open: Socket[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) s.destroy();
    await h?.close();
    h = undefined;
  });

  it('a small body that stalls holds no upstream slot, and gets 408 REQUEST_TIMEOUT', async () => {
    h = await startHarness({ kinds: ['akool'], top: { limits: { clientBodyTimeout: '600ms', maxConcurrentPerUpstream: 2, maxQueuePerUpstream: 0 } } });
    const stalled = Array.from({ length: 20 }, () => {
      const c = client(h!.url);
      open.push(c.socket);
      c.write('POST /akool/api/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
      return c;
    });
    await new Promise((r) => setTimeout(r, 100));
    // With 2 slots and no queue, 20 stalled clients holding slots would make this a 503.
    const normal = await raw(h.url, 'GET /akool/api/y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(status(normal)).toBe(200);
    for (const c of stalled) expect(await c.until(() => c.closed, 5_000)).toBe(true);
    expect(status(stalled[0]!.text)).toBe(408);
    expect(code(stalled[0]!.text)).toBe('REQUEST_TIMEOUT');
    // None of them reached the vendor.
    expect(h.vendors.akool.seen.filter((s) => s.url === '/api/x')).toEqual([]);
  });

  it('a streamed upload that stalls mid-body ends: 408, upstream request aborted, slot and spool freed', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tr-stall-'));
    h = await startHarness({ kinds: ['hitem3d'], top: { limits: { clientBodyTimeout: '600ms', maxConcurrentPerUpstream: 1, maxQueuePerUpstream: 0 }, replay: { memoryBytes: '64KiB', spoolDir } } });
    const c = client(h.url);
    open.push(c.socket);
    c.write('POST /hitem3d/open-api/v1/submit-task HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n');
    c.write(Buffer.alloc(300 * 1024, 1));
    expect(await c.until(() => c.closed, 5_000)).toBe(true);
    expect(status(c.text)).toBe(408);
    expect(code(c.text)).toBe('REQUEST_TIMEOUT');
    // The slot is free again (maxConcurrent 1, no queue) and nothing is left in the spool.
    expect(status(await raw(h.url, 'GET /hitem3d/open-api/v1/balance HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))).toBe(200);
    expect(readdirSync(spoolDir)).toEqual([]);
    // The vendor saw the upload start and end short: it was aborted, not completed.
    const upload = h.vendors.hitem3d.seen.find((s) => s.url === '/open-api/v1/submit-task');
    expect(upload?.body?.bytes ?? 0).toBeLessThan(1048576);
  });

  it('a slow upload whose chunks keep coming is not cut', async () => {
    h = await startHarness({ kinds: ['akool'], top: { limits: { clientBodyTimeout: '1s' } } });
    const c = client(h.url);
    open.push(c.socket);
    const body = Buffer.alloc(100 * 1024, 2);
    c.write(`POST /akool/api/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    for (let i = 0; i < 10; i++) {
      c.write(body.subarray(i * 10 * 1024, (i + 1) * 10 * 1024));
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(await c.until(() => c.closed, 5_000)).toBe(true);
    expect(status(c.text)).toBe(200);
  });
});

describe('Expect: 100-continue', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const head = (path: string, extra = '', length = 10) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n${extra}\r\n`;

  it.each([
    ['an unknown route', '/nowhere/x', 'X-Tokenrelay-Key: k-123456\r\n', 10, 404, 'ROUTE_NOT_FOUND'],
    ['a path off the allow-list', '/akool/admin/x', 'X-Tokenrelay-Key: k-123456\r\n', 10, 403, 'NOT_ALLOWED'],
    ['a missing inbound key', '/akool/api/open/v3/x', '', 10, 401, 'INBOUND_UNAUTHORIZED'],
    ['a declared body over maxBodyBytes', '/akool/api/open/v3/x', 'X-Tokenrelay-Key: k-123456\r\n', 2048, 413, 'BODY_TOO_LARGE'],
  ])('%s: the final answer, without a 100 first', async (_n, path, extra, length, want, wantCode) => {
    h = await startHarness({
      kinds: ['akool'], upstream: { akool: { allow: ['* /api/'] } },
      top: { inbound: { apiKeys: ['k-123456'] }, limits: { maxBodyBytes: 1024 } },
    });
    const c = client(h.url);
    c.write(head(path, extra, length));
    await c.until(() => c.text.includes('\r\n\r\n'), 3_000);
    c.socket.destroy();
    expect(c.text.startsWith('HTTP/1.1 100')).toBe(false);
    expect(status(c.text)).toBe(want);
    expect(code(c.text)).toBe(wantCode);
  });

  it('a refused request without a body keeps its connection; one whose body is pending closes it', async () => {
    h = await startHarness({ kinds: ['akool'] });
    const c = client(h.url);
    c.write('GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until(() => c.text.includes('"code":"ROUTE_NOT_FOUND"'), 3_000);
    expect(c.text).toMatch(/connection: keep-alive/i);
    c.write('GET /akool/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await c.until(() => c.closed, 3_000)).toBe(true);
    expect(c.text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 404', 'HTTP/1.1 200']);
    const d = client(h.url);
    d.write(head('/nowhere/x'));
    expect(await d.until(() => d.closed, 3_000)).toBe(true);
    expect(status(d.text)).toBe(404);
    expect(d.text).toMatch(/connection: close/i);
  });

  it('a request nothing refuses gets 100 Continue, then its answer', async () => {
    h = await startHarness({ kinds: ['akool'] });
    const c = client(h.url);
    c.write(head('/akool/api/open/v3/x', 'Connection: close\r\n'));
    expect(await c.until(() => c.text.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 3_000)).toBe(true);
    c.write('{"a":"12"}');
    expect(await c.until(() => c.closed, 3_000)).toBe(true);
    expect(c.text.slice(c.text.indexOf('\r\n\r\n') + 4)).toMatch(/^HTTP\/1\.1 200 /);
    expect(h.vendors.akool.seen.at(-1)!.headers.expect).toBeUndefined();
  });
});
