/**
 * No path leaves a spool file behind: an early answer (4xx, or an expired-token answer before
 * the body was read), a client that hangs up, an upstream that fails mid-body, a refresh that
 * fails, the spool limit, a reload mid-upload, and SIGTERM mid-upload. Each path counts the
 * files in `spoolDir` and the descriptors on them after it: a spool file is unlinked once open,
 * and may wait in the pool for the next body, but none outlives the relay.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelayProcess, vendorConfig, type RelayProcess } from '../../support/child.js';
import { compileConfig } from '../../../src/config/load.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';
import { startHarness, type Harness } from '../../support/helpers.js';
import { statusOf as status } from '../../support/raw.js';
import { eventually, openSpoolFiles } from '../../support/spool-fds.js';

const MiB = 1024 * 1024;
const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends a head and `sendBytes` of a `length`-byte body, in 64 KiB writes; resolves with what
 * came back once the server closes. `keepAlive`: a client that keeps its connection and goes on
 * sending the whole body after an early answer (resolves once all is written and answered).
 */
function upload(url: string, path: string, length: number, sendBytes = length, onSocket?: (s: Socket) => void, keepAlive = false): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(port), '127.0.0.1');
    onSocket?.(s);
    let got = '';
    let written = false;
    const maybeDone = () => {
      if (keepAlive && written && got.includes('\r\n\r\n')) setTimeout(() => resolve(got), 300);
    };
    s.on('data', (d) => {
      got += d;
      maybeDone();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 5);
    let sent = 0;
    const pump = () => {
      while (sent < sendBytes && !s.destroyed) {
        const n = Math.min(chunk.length, sendBytes - sent);
        sent += n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void s.once('drain', pump);
      }
      written = true;
      maybeDone();
    };
    pump();
  });
}

describe('spool files: none left behind', () => {
  let h: Harness | undefined;
  let spoolDir: string;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const start = async (replay: Record<string, unknown> = {}, vendor = {}) => {
    spoolDir = mkdtempSync(join(tmpdir(), 'tr-leftover-'));
    h = await startHarness({ kinds: ['hitem3d'], vendor, top: { replay: { memoryBytes: '64KiB', spoolDir, ...replay }, limits: { clientBodyTimeout: '2s' } } });
    return h;
  };
  /**
   * What is left once the relay has shut down: names in spoolDir, and this process's descriptors
   * on files in it (a spool file is unlinked once open). A body's file may wait in the pool for
   * the next body until then, but must not outlive the relay.
   */
  const left = async (ms = 150) => {
    await settle(ms);
    expect(openSpoolFiles(spoolDir).length).toBeLessThanOrEqual(1);
    await h!.close();
    h = undefined;
    await eventually(() => openSpoolFiles(spoolDir).length === 0);
    return [...readdirSync(spoolDir), ...openSpoolFiles(spoolDir).map((f) => f.target)];
  };

  it.each([false, true])('an early 4xx before the body was read (client keeps its connection and sends on: %s)', async (keepAlive) => {
    await start();
    const answer = await upload(h!.url, '/hitem3d/__early', 4 * MiB, 4 * MiB, undefined, keepAlive);
    expect(status(answer)).toBe(413);
    expect(await left()).toEqual([]);
  });

  it('an early expired-token answer: the body is still received whole, resent, and its spool removed', async () => {
    await start();
    await h!.get('/hitem3d/warm');
    h!.vendors.hitem3d.revokeAll();
    const answer = await upload(h!.url, '/hitem3d/__early', 4 * MiB);
    expect(status(answer)).toBe(413); // the resend, with a fresh token, reached the same early 413
    expect(h!.vendors.hitem3d.counts.tokenFetches).toBe(2);
    expect(await left()).toEqual([]);
  });

  it('a slow client on a revoked token: its spooled body (never a full write block at a time) is resent whole, then removed', async () => {
    await start();
    await h!.get('/hitem3d/warm');
    h!.vendors.hitem3d.revokeAll();
    // 300 KiB in 10 KiB writes 20 ms apart: past memoryBytes (64 KiB), so spooled, but the spool
    // never holds its 512 KiB block: what it writes, it writes at the end.
    const body = Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => i % 251));
    const { port } = new URL(h!.url);
    const s = connect(Number(port), '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d));
    const closed = new Promise((r) => s.on('close', r));
    s.write(`POST /hitem3d/open-api/v1/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    for (let i = 0; i < body.length; i += 10 * 1024) {
      s.write(body.subarray(i, i + 10 * 1024));
      await settle(20);
      if (i === 200 * 1024) expect(openSpoolFiles(spoolDir)).toHaveLength(1); // spooling
    }
    await closed;
    expect(status(got)).toBe(200);
    const seen = h!.vendors.hitem3d.seen.filter((x) => x.url === '/open-api/v1/upload');
    const sha = createHash('sha256').update(body).digest('hex');
    // Sent twice (the first answered expired), the same bytes both times.
    expect(seen.map((x) => x.body?.sha256)).toEqual([sha, sha]);
    expect(h!.vendors.hitem3d.counts.tokenFetches).toBe(2);
    expect(await left()).toEqual([]);
  });

  it('a client that hangs up mid-upload', async () => {
    await start();
    await upload(h!.url, '/hitem3d/__slow?ms=300', 8 * MiB, 2 * MiB, (s) => setTimeout(() => s.destroy(), 150));
    expect(await left(500)).toEqual([]);
  });

  it('an upstream that drops the connection mid-body', async () => {
    await start();
    const answer = await upload(h!.url, '/hitem3d/__reset', 4 * MiB);
    expect(status(answer)).toBe(502);
    expect(await left()).toEqual([]);
  });

  it('a refresh that fails', async () => {
    await start({}, { expiredAsHttp401: true });
    await h!.get('/hitem3d/warm');
    h!.vendors.hitem3d.revokeAll();
    h!.vendors.hitem3d.failTokens('refused-code');
    const answer = await upload(h!.url, '/hitem3d/open-api/v1/submit-task', 2 * MiB);
    expect(status(answer)).toBe(502);
    expect(await left()).toEqual([]);
  });

  it('the spool limit reached mid-body', async () => {
    await start({ maxSpoolBytes: '512KiB' });
    await h!.get('/hitem3d/warm');
    h!.vendors.hitem3d.revokeAll();
    const answer = await upload(h!.url, '/hitem3d/open-api/v1/submit-task', 3 * MiB);
    expect(status(answer)).toBe(200); // the vendor's expired answer, passed on: no copy to resend
    expect(await left()).toEqual([]);
  });

  it('a reload in the middle of an upload', async () => {
    await start();
    const pending = upload(h!.url, '/hitem3d/__slow?ms=400', 3 * MiB);
    await settle(100);
    const v = h!.vendors.hitem3d;
    h!.relay.reload(compileConfig({
      listen: { port: 0 }, replay: { memoryBytes: '64KiB', spoolDir },
      upstreams: { hitem3d: { prefix: '/hitem3d', target: v.url, timeout: '30s', auth: { type: 'hitem3d', ...v.credentials } } },
    }, { env: {} }));
    expect(status(await pending)).toBe(200);
    expect(await left()).toEqual([]);
  });
});

describe('spool files: SIGTERM mid-upload', () => {
  let vendor: FakeVendor;
  let relay: RelayProcess | undefined;
  afterEach(async () => {
    await relay?.stop('SIGKILL');
    await vendor.close();
  });

  it('shutdown removes what its requests spooled', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tr-leftover-term-'));
    vendor = await startFakeVendor('hitem3d');
    relay = await startRelayProcess(vendorConfig(vendor, `replay: { memoryBytes: 64KiB, spoolDir: "${spoolDir}" }\nshutdown: { gracePeriod: 300ms }\n`));
    // The vendor takes its time before reading: the body backs up, part of it spooled.
    const pending = upload(relay.url, '/hitem3d/__slow?ms=5000', 16 * MiB);
    const pid = relay.proc.pid!;
    for (let i = 0; i < 50 && openSpoolFiles(spoolDir, pid).length === 0; i++) await settle(50);
    expect(openSpoolFiles(spoolDir, pid)).toHaveLength(1);
    expect(await relay.stop('SIGTERM')).toBe(0);
    await pending;
    expect(readdirSync(spoolDir)).toEqual([]);
  });
});
