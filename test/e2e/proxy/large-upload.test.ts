import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, vendorConfig, type RelayProcess } from '../../support/child.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';
import { openSpoolFiles } from '../../support/spool-fds.js';

const MiB = 1024 * 1024;

/** A streamed multipart/form-data body of `mib` MiB of file data; its SHA-256 when it has been read. */
function multipart(mib: number) {
  const boundary = '----tokenrelay-test-boundary';
  const hash = createHash('sha256');
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="request_type"\r\n\r\n1\r\n--${boundary}\r\nContent-Disposition: form-data; name="mesh"; filename="mesh.glb"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
  let sent = 0;
  const body = new Readable({
    read() {
      let c: Buffer | null;
      if (sent === 0) c = head;
      else if (sent <= mib) c = chunk;
      else if (sent === mib + 1) c = tail;
      else c = null;
      sent++;
      if (c) hash.update(c);
      this.push(c);
    },
  });
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, length: head.length + mib * MiB + tail.length, sha256: () => hash.digest('hex') };
}

describe('large uploads survive a token refresh (spooled replay copy)', () => {
  let vendor: FakeVendor;
  let relay: RelayProcess;
  let spoolDir: string;
  const client = new Agent();
  beforeAll(async () => {
    vendor = await startFakeVendor('hitem3d');
    spoolDir = mkdtempSync(join(tmpdir(), 'tokenrelay-spool-'));
    // A leftover from a killed process (a pid that can't exist): removed at start.
    writeFileSync(join(spoolDir, 'tr-4194999-0123456789abcdef.spool'), 'stale');
    relay = await startRelayProcess(vendorConfig(vendor, `replay: { memoryBytes: 1MiB, maxBytes: 256MiB, spoolDir: "${spoolDir}" }\n`));
    for (let i = 0; i < 20; i++) await (await request(`${relay.url}/hitem3d/warm`, { dispatcher: client })).body.text();
  });
  afterAll(async () => {
    await client.close();
    await relay.stop();
    await vendor.close();
  });

  it('removed the leftover spool file at start', () => {
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('a 200 MB multipart upload on a revoked token succeeds after one refresh: same bytes twice, memory bounded, no spool file left but the pooled one', async () => {
    vendor.revokeAll();
    const fetchesBefore = vendor.counts.tokenFetches;
    const seenBefore = vendor.seen.length;
    const rssBefore = relay.memory().rss;
    const m = multipart(200);
    const res = await request(`${relay.url}/hitem3d/open-api/v1/segmentation/create-task`, {
      method: 'POST', body: m.body, headers: { 'content-type': m.contentType, 'content-length': String(m.length) }, dispatcher: client,
    });
    const json = (await res.body.json()) as { code: number; data: { bodyBytes: number; sha256: string } };
    const sha = m.sha256();
    expect(res.statusCode).toBe(200);
    expect(json.code).toBe(200);
    expect(vendor.counts.tokenFetches - fetchesBefore).toBe(1);
    const [first, second] = vendor.seen.slice(seenBefore);
    expect(first!.body).toEqual({ bytes: m.length, sha256: sha });
    expect(second!.body).toEqual({ bytes: m.length, sha256: sha });
    expect(second!.token).not.toBe(first!.token);
    process.stdout.write(`large-upload: peak growth ${((relay.memory().peak - rssBefore) / MiB).toFixed(1)} MiB\n`);
    expect(relay.memory().peak - rssBefore).toBeLessThan(96 * MiB);
    // Unlinked once open; its descriptor waits in the pool for the next body (closed within 20 s).
    expect(readdirSync(spoolDir)).toEqual([]);
    expect(openSpoolFiles(spoolDir, relay.proc.pid!).length).toBeLessThanOrEqual(1);
  });

  it('a body over replay.maxBytes streams through and is not retried', async () => {
    relay.stdout.length = 0;
    const small = await startRelayProcess(vendorConfig(vendor, `replay: { memoryBytes: 64KiB, maxBytes: 1MiB, spoolDir: "${spoolDir}" }\n`));
    try {
      await (await request(`${small.url}/hitem3d/warm`, { dispatcher: client })).body.text();
      vendor.revokeAll();
      const before = vendor.seen.length;
      const m = multipart(4);
      const res = await request(`${small.url}/hitem3d/open-api/v1/segmentation/create-task`, {
        method: 'POST', body: m.body, headers: { 'content-type': m.contentType }, dispatcher: client,
      });
      const json = (await res.body.json()) as { code: number };
      expect(json.code).toBe(401); // the vendor's expired answer, passed through
      expect(vendor.seen.length - before).toBe(1);
      expect(vendor.seen.at(-1)!.body!.sha256).toBe(m.sha256());
      expect(readdirSync(spoolDir)).toEqual([]);
    } finally {
      await small.stop();
    }
  });
});
