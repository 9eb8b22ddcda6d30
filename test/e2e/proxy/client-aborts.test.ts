import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, vendorConfig, type RelayProcess } from '../../support/child.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';

/** Opens a request, sends `text`, waits until `until` is seen (or a moment passes), then hangs up. */
function hangUp(port: number, text: string, until?: string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    const bye = () => {
      s.destroy();
      resolve();
    };
    const timer = setTimeout(bye, 300);
    s.on('data', (d) => {
      got += d;
      if (until && got.includes(until)) {
        clearTimeout(timer);
        bye();
      }
    });
    s.on('error', bye);
  });
}

describe('clients that hang up', () => {
  let vendor: FakeVendor;
  let relay: RelayProcess;
  let port: number;
  const client = new Agent();
  const fds = () => readdirSync(`/proc/${relay.proc.pid}/fd`).length;
  beforeAll(async () => {
    vendor = await startFakeVendor('hitem3d');
    relay = await startRelayProcess(vendorConfig(vendor), { LOG_LEVEL: 'info' });
    port = Number(new URL(relay.url).port);
  });
  afterAll(async () => {
    await client.close();
    await relay.stop();
    await vendor.close();
  });

  it('1000 aborted uploads and downloads: upstream requests aborted, sockets and descriptors back where they started', async () => {
    // Warm up with the same shape of traffic so pools and lazily opened handles exist already.
    await Promise.all(Array.from({ length: 10 }, () => request(`${relay.url}/hitem3d/open-api/v1/balance`, { dispatcher: client }).then((r) => r.body.text())));
    await new Promise((r) => setTimeout(r, 300));
    const before = fds();
    const upload = `POST /hitem3d/open-api/v1/submit-task HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n${'x'.repeat(64 * 1024)}`;
    const download = `GET /hitem3d/__download?bytes=50000000 HTTP/1.1\r\nHost: x\r\n\r\n`;
    let i = 0;
    await Promise.all(Array.from({ length: 20 }, async () => {
      while (i < 1000) {
        const n = i++;
        await (n % 2 ? hangUp(port, upload) : hangUp(port, download, '\r\n\r\n'));
      }
    }));
    // The proxy is still serving…
    const ok = await request(`${relay.url}/hitem3d/open-api/v1/balance`, { dispatcher: client });
    expect(ok.statusCode).toBe(200);
    await ok.body.text();
    // …and settles back to where it was (closing sockets takes a moment).
    let after = fds();
    // Up to 8 s: pooled upstream connections opened during the storm stay until the upstream's
    // 5 s keep-alive timeout closes them.
    for (let t = 0; t < 80 && after > before + 2; t++) {
      await new Promise((r) => setTimeout(r, 100));
      after = fds();
    }
    expect(after, `descriptors: ${before} before, ${after} after`).toBeLessThanOrEqual(before + 2);
    // Each hang-up was logged as a 499 (client closed request), none as an error of ours.
    // Log lines are written in batches (every 100 ms at most): wait for the last ones.
    const accessLines = () => relay.stdout.filter((l) => l.includes('"msg":"request"'));
    for (let t = 0; t < 30 && accessLines().length < 1011; t++) await new Promise((r) => setTimeout(r, 100));
    const statuses = accessLines().map((l) => (JSON.parse(l) as { status: number }).status);
    const byStatus = statuses.reduce<Record<number, number>>((a, s) => ({ ...a, [s]: (a[s] ?? 0) + 1 }), {});
    expect(byStatus).toEqual({ 200: 11, 499: 1000 });
  });
});
