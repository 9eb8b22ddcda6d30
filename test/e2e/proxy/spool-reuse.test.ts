/**
 * A spool file goes on to the next body (its page-cache pages are overwritten, not allocated
 * again): the next body's copy, and its resend, are that body's bytes and never the last one's.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';
import { eventually, openSpoolFiles } from '../../support/spool-fds.js';

const KiB = 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('spool files reused from body to body', () => {
  let h: Harness | undefined;
  let spoolDir: string;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const start = async () => {
    spoolDir = mkdtempSync(join(tmpdir(), 'tr-reuse-'));
    h = await startHarness({ kinds: ['hitem3d'], top: { replay: { memoryBytes: '64KiB', maxBytes: '64MiB', spoolDir } } });
    await (await post(Buffer.from('warm'))).body.text();
  };
  const post = (body: Buffer) => request(`${h!.url}/hitem3d/open-api/v1/upload`, {
    method: 'POST', body, headers: { 'content-type': 'application/octet-stream' }, dispatcher: h!.client,
  });
  /** Posts `body` on a revoked token: the vendor sees it twice, then answers it. */
  const resent = async (body: Buffer) => {
    h!.vendors.hitem3d.revokeAll();
    const before = h!.vendors.hitem3d.seen.length;
    const json = (await (await post(body)).body.json()) as { code: number; data: { sha256: string } };
    expect(json.code).toBe(200);
    return h!.vendors.hitem3d.seen.slice(before).map((s) => s.body?.sha256);
  };

  // SECURITY: the reused file still holds the bigger body's bytes past the smaller one's end.
  it('a smaller body after a bigger one is copied and resent as itself, through the same file', async () => {
    await start();
    const big = Buffer.alloc(3 * 1024 * KiB, 0x41);
    expect(await resent(big)).toEqual([sha(big), sha(big)]);
    expect(await eventually(() => openSpoolFiles(spoolDir).length === 1)).toBe(true);
    const fd = openSpoolFiles(spoolDir)[0]!.fd;
    const small = Buffer.from(Array.from({ length: 300 * KiB }, (_, i) => i % 199));
    expect(await resent(small)).toEqual([sha(small), sha(small)]);
    // The same descriptor, and no other: the file was reused, not made anew.
    expect(await eventually(() => openSpoolFiles(spoolDir).length === 1)).toBe(true);
    expect(openSpoolFiles(spoolDir)[0]!.fd).toBe(fd);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('through a file a resend answered early left, a slow client\'s smaller body is resent as itself, its answers compressed as fetch asks', async () => {
    await start();
    // A bigger body on a revoked token where the vendor answers before it reads (expired, then
    // 413 to the resend): its file goes to the pool while the resend may still be reading it.
    h!.vendors.hitem3d.revokeAll();
    const early = await request(`${h!.url}/hitem3d/__early`, {
      method: 'POST', body: Buffer.alloc(3 * 1024 * KiB, 0x41), headers: { 'content-type': 'application/octet-stream' }, dispatcher: h!.client,
    });
    await early.body.text();
    expect(early.statusCode).toBe(413);
    expect(await eventually(() => openSpoolFiles(spoolDir).length === 1)).toBe(true);
    const fd = openSpoolFiles(spoolDir)[0]!.fd;
    // A client that sends 300 KiB in 10 KiB pieces, 2 ms apart, and asks for gzip as fetch does.
    const small = Buffer.from(Array.from({ length: 300 * KiB }, (_, i) => i % 199));
    let at = 0;
    const slow = new Readable({
      read() {
        setTimeout(() => this.push(at >= small.length ? null : small.subarray(at, (at += 10 * KiB))), 2);
      },
    });
    h!.vendors.hitem3d.revokeAll();
    const before = h!.vendors.hitem3d.seen.length;
    const res = await request(`${h!.url}/hitem3d/open-api/v1/upload`, {
      method: 'POST', body: slow, dispatcher: h!.client,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(small.length), 'accept-encoding': 'gzip, deflate, br' },
    });
    const raw = Buffer.from(await res.body.arrayBuffer());
    // The vendor's answer as it sent it: compressed, because the client asked (the expired one
    // before it too, which tokenrelay had to decode to see code 401).
    const coding = res.headers['content-encoding'] as string;
    const decode = { br: brotliDecompressSync, gzip: gunzipSync, deflate: inflateSync }[coding];
    expect(decode).toBeDefined();
    const json = JSON.parse(decode!(raw).toString()) as { code: number; data: { sha256: string } };
    expect(json.code).toBe(200);
    expect(json.data.sha256).toBe(sha(small));
    expect(h!.vendors.hitem3d.seen.slice(before).map((x) => x.body?.sha256)).toEqual([sha(small), sha(small)]);
    expect(openSpoolFiles(spoolDir).map((f) => f.fd)).toEqual([fd]);
  });

  it('a spooled body answered 204, after a refresh, is answered as the vendor answers it directly; its file goes on to the next body', async () => {
    await start();
    const vendor = h!.vendors.hitem3d;
    const body = Buffer.alloc(1024 * KiB, 0x5a);
    /** Status, body and end-to-end headers: what must be the same through tokenrelay and direct. */
    const answer = async (url: string, headers: Record<string, string> = {}) => {
      const r = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', ...headers }, dispatcher: h!.client });
      const got = Buffer.from(await r.body.arrayBuffer());
      const kept = Object.entries(r.headers).filter(([k]) => !['date', 'connection', 'keep-alive', 'transfer-encoding', 'x-request-id'].includes(k));
      return { status: r.statusCode, headers: Object.fromEntries(kept), body: got.toString('base64') };
    };
    const direct = await answer(`${vendor.url}/__t/status/204`, { authorization: `Bearer ${vendor.issued.at(-1)}` });
    expect(direct.status).toBe(204);
    vendor.revokeAll();
    const before = vendor.seen.length;
    expect(await answer(`${h!.url}/hitem3d/__t/status/204`)).toEqual(direct);
    // Sent twice (expired, then resent from the spool), whole both times.
    expect(vendor.seen.slice(before).map((s) => s.body?.sha256)).toEqual([sha(body), sha(body)]);
    expect(await eventually(() => openSpoolFiles(spoolDir).length === 1)).toBe(true);
    const fd = openSpoolFiles(spoolDir)[0]!.fd;
    const next = Buffer.from(Array.from({ length: 200 * KiB }, (_, i) => i % 251));
    expect(await resent(next)).toEqual([sha(next), sha(next)]);
    expect(openSpoolFiles(spoolDir).map((f) => f.fd)).toEqual([fd]);
  });

  it('bodies at once each get a file of their own, and each is resent as itself', async () => {
    await start();
    const bodies = [1, 2, 3].map((n) => Buffer.alloc(n * 512 * KiB, n));
    h!.vendors.hitem3d.revokeAll();
    const answers = await Promise.all(bodies.map(async (b) => (await (await post(b)).body.json()) as { code: number; data: { sha256: string } }));
    expect(answers.map((a) => a.code)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.data.sha256)).toEqual(bodies.map(sha));
    expect(await eventually(() => openSpoolFiles(spoolDir).length === 3)).toBe(true);
    // Again: the three files are taken from the pool, none made anew.
    h!.vendors.hitem3d.revokeAll();
    const again = await Promise.all(bodies.map(async (b) => (await (await post(b)).body.json()) as { code: number; data: { sha256: string } }));
    expect(again.map((a) => a.data.sha256)).toEqual(bodies.map(sha));
    expect(await eventually(() => openSpoolFiles(spoolDir).length === 3)).toBe(true);
  });

  it('/metrics shows the spool budget: bytes in flight while a body is copied, idle while its file waits for the next', async () => {
    await start();
    const gauge = async () => {
      const text = await (await request(`${h!.url}/metrics`, { dispatcher: h!.client })).body.text();
      const read = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
      return {
        inFlight: read(/^tokenrelay_spool_bytes\{state="in_flight"\} (\d+)$/m),
        idle: read(/^tokenrelay_spool_bytes\{state="idle"\} (\d+)$/m),
        limit: read(/^tokenrelay_spool_limit_bytes (\d+)$/m),
      };
    };
    expect(await gauge()).toEqual({ inFlight: 0, idle: 0, limit: 1024 ** 3 });
    // The vendor waits before it reads: the body backs up past memoryBytes into the spool.
    const pending = request(`${h!.url}/hitem3d/__slow?ms=600`, {
      method: 'POST', body: Buffer.alloc(4 * 1024 * KiB, 9), headers: { 'content-type': 'application/octet-stream' }, dispatcher: h!.client,
    }).then((r) => r.body.json());
    await new Promise((r) => setTimeout(r, 300));
    const during = await gauge();
    expect(during.inFlight).toBeGreaterThan(0);
    expect(((await pending) as { code: number }).code).toBe(200);
    // The file goes to the pool once its last write is back (the thread pool's time).
    let after = await gauge();
    for (let i = 0; i < 50 && after.inFlight > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      after = await gauge();
    }
    expect(after.inFlight).toBe(0);
    expect(after.idle).toBeGreaterThanOrEqual(during.inFlight);
  });
});
