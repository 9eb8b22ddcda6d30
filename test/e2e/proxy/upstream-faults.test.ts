import { createServer, type Server } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenRelay, type TokenRelay } from '../../../src/app.js';
import { compileConfig } from '../../../src/config/load.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { listenLoopback, type Listening } from '../../support/fakes/listen.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';

/** An API host that misbehaves on purpose; tokens come from a well-behaved fake Akool. */
describe('upstream faults', () => {
  let vendor: FakeVendor;
  let api: Server;
  let relay: TokenRelay;
  let url: string;
  let apiListening: Listening;
  beforeAll(async () => {
    vendor = await startFakeVendor('akool');
    api = createServer((req, res) => {
      if (req.url === '/reset-mid-answer') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000000' });
        res.write(Buffer.alloc(1000));
        setTimeout(() => req.socket.destroy(), 50);
      } else if (req.url === '/stall-body') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000000' });
        res.write(Buffer.alloc(1000)); // and then nothing
      } else if (req.url === '/no-headers') {
        // never answers
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"code":1000}');
      }
    });
    apiListening = await listenLoopback(api);
    const config = compileConfig({
      listen: { port: 0 },
      upstreams: {
        akool: {
          prefix: '/akool', target: apiListening.url, timeout: '300ms', bodyTimeout: '300ms',
          auth: { type: 'akool', ...vendor.credentials, tokenUrl: `${vendor.url}/api/open/v3/getToken` },
        },
      },
    }, { env: {} });
    relay = createTokenRelay({ config, logger: createLogger({ level: 'silent' }) });
    url = `http://127.0.0.1:${(await relay.listen(0)).port}`;
  });
  afterAll(async () => {
    await relay.close(100);
    await apiListening.close();
    await vendor.close();
  });

  async function readAll(path: string): Promise<{ status: number; error?: string; bytes: number }> {
    const res = await request(`${url}${path}`);
    let bytes = 0;
    try {
      for await (const c of res.body) bytes += (c as Buffer).length;
      return { status: res.statusCode, bytes };
    } catch (err) {
      return { status: res.statusCode, error: (err as { code?: string }).code ?? 'error', bytes };
    }
  }

  it('reset mid-answer: the client connection is closed, not left hanging or silently truncated', async () => {
    const r = await readAll('/akool/reset-mid-answer');
    expect(r.status).toBe(200);
    expect(r.error).toBeDefined();
    expect(r.bytes).toBeLessThan(1_000_000);
  });

  it('stalled body: closed after bodyTimeout', async () => {
    const r = await readAll('/akool/stall-body');
    expect(r.error).toBeDefined();
  });

  it('no headers within the timeout: 504 UPSTREAM_TIMEOUT', async () => {
    const res = await request(`${url}/akool/no-headers`);
    expect(res.statusCode).toBe(504);
    expect(((await res.body.json()) as any).error.code).toBe('UPSTREAM_TIMEOUT');
  });

  it('nothing else is disturbed: the next requests are served', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => request(`${url}/akool/ok`).then(async (r) => {
      await r.body.text();
      return r.statusCode;
    })));
    expect(results.every((s) => s === 200)).toBe(true);
  });
});
