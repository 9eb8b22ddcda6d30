import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, type RelayProcess } from '../../support/child.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';
import { startHarness, type Harness } from '../../support/helpers.js';

const MiB = 1024 * 1024;

describe('server-sent events', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('reach the client event by event, not buffered to the end', async () => {
    h = await startHarness({ kinds: ['akool'] });
    const res = await request(`${h.url}/akool/__sse?events=3&interval=300`, { dispatcher: h.client });
    expect(res.headers['content-type']).toBe('text/event-stream');
    const arrivals: number[] = [];
    const t0 = Date.now();
    let text = '';
    for await (const chunk of res.body) {
      text += chunk;
      arrivals.push(Date.now() - t0);
    }
    expect(text.match(/event: progress/g)).toHaveLength(3);
    // Three separate deliveries spread over time: the first arrived long before the last.
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(300);
  });
});

describe('300 MB through the proxy in bounded memory (a separate process, measured by /proc)', () => {
  let vendor: FakeVendor;
  let relay: RelayProcess;
  const client = new Agent();
  beforeAll(async () => {
    vendor = await startFakeVendor('hitem3d');
    relay = await startRelayProcess(`
listen: { port: 0 }
upstreams:
  hitem3d:
    prefix: /hitem3d
    target: ${vendor.url}
    auth: { type: hitem3d, clientId: "\${ID}", clientSecret: "\${SECRET}" }
`, { ID: vendor.credentials.clientId, SECRET: vendor.credentials.clientSecret });
    // Warm up: token fetched, pools and JIT settled.
    for (let i = 0; i < 20; i++) await (await request(`${relay.url}/hitem3d/warm`, { dispatcher: client })).body.text();
  });
  afterAll(async () => {
    await client.close();
    await relay.stop();
    await vendor.close();
  });

  it('a 300 MB download grows resident memory by less than 96 MiB', async () => {
    const before = relay.memory().rss;
    const res = await request(`${relay.url}/hitem3d/__download?bytes=${300 * MiB}`, { dispatcher: client });
    let n = 0;
    for await (const c of res.body) n += (c as Buffer).length;
    expect(n).toBe(300 * MiB);
    expect(relay.memory().peak - before).toBeLessThan(96 * MiB);
  });

  it('a 300 MB upload grows resident memory by less than 96 MiB, and arrives intact', async () => {
    const before = relay.memory().rss;
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(MiB, 3);
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= 300) return this.push(null);
        sent++;
        hash.update(chunk);
        this.push(chunk);
      },
    });
    const res = await request(`${relay.url}/hitem3d/open-api/v1/segmentation/create-task`, {
      method: 'POST', body, headers: { 'content-type': 'application/octet-stream' }, dispatcher: client,
    });
    const json = (await res.body.json()) as { data: { bodyBytes: number; sha256: string } };
    expect(json.data.bodyBytes).toBe(300 * MiB);
    expect(json.data.sha256).toBe(hash.digest('hex'));
    expect(relay.memory().peak - before).toBeLessThan(96 * MiB);
  });
});
