import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenRelay } from '../../../src/app.js';
import { compileConfig } from '../../../src/config/load.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { captureLogs, startHarness, type Harness } from '../../support/helpers.js';

describe('coded errors', () => {
  let h: Harness | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const c of closers.splice(0)) await c();
  });

  it('CREDENTIALS_MISSING (503) for an upstream whose secret is unset; the log names the variable', async () => {
    const config = compileConfig({
      listen: { port: 0 },
      upstreams: { akool: { prefix: '/akool', target: 'http://127.0.0.1:9', auth: { type: 'akool', clientId: 'id', clientSecret: '${AKOOL_CLIENT_SECRET}' } } },
    }, { env: {} });
    const { lines, stream } = captureLogs();
    const relay = createTokenRelay({ config, logger: createLogger({ destination: stream }) });
    const { port } = await relay.listen(0);
    closers.push(() => relay.close(100));
    const res = await request(`http://127.0.0.1:${port}`).get('/akool/x').expect(503);
    expect(res.body.error.code).toBe('CREDENTIALS_MISSING');
    expect(res.body.error.upstream).toBe('akool');
    expect(lines.join('\n')).toContain('AKOOL_CLIENT_SECRET');
  });

  it.each([
    ['http500', /HTTP 500/],
    ['html', /HTML/],
    ['empty', /empty body/],
    ['refused-code', /refused: client credentials are invalid \(40010000\)/],
    ['garbled', /non-JSON/],
  ] as const)('TOKEN_FETCH_FAILED (502) says what the token endpoint did: %s', async (mode, message) => {
    h = await startHarness({ kinds: ['hitem3d'] });
    h.vendors.hitem3d.failTokens(mode);
    const res = await h.get('/hitem3d/x');
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('TOKEN_FETCH_FAILED');
    expect(res.json.error.message).toMatch(message);
    expect(res.json.error.message).not.toContain(h.vendors.hitem3d.credentials.clientSecret);
  });

  it('TOKEN_FETCH_FAILED on a token endpoint that never answers (tokenTimeout)', async () => {
    h = await startHarness({ kinds: ['akool'], upstream: { akool: { tokenTimeout: '200ms' } } });
    h.vendors.akool.failTokens('hang');
    const res = await h.get('/akool/x');
    expect(res.json.error.code).toBe('TOKEN_FETCH_FAILED');
    expect(res.json.error.message).toMatch(/timed out/);
  });

  it('a client waits at most tokenTimeout for a token: no second full wait after a timeout', async () => {
    h = await startHarness({ kinds: ['akool'], upstream: { akool: { tokenTimeout: '1s' } } });
    h.vendors.akool.failTokens('hang');
    const t0 = performance.now();
    const res = await h.get('/akool/x');
    const waited = performance.now() - t0;
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('TOKEN_FETCH_FAILED');
    // One fetch: the quick retry follows only a fast failure that left time for it.
    expect(h.vendors.akool.counts.tokenFetches).toBe(1);
    // A bound, not a speed figure: the old behaviour waited 2 x 1 s + 0.2 s.
    expect(waited).toBeLessThan(2_000);
  });

  it('a fast failure still gets its one quick retry within tokenTimeout', async () => {
    h = await startHarness({ kinds: ['akool'], upstream: { akool: { tokenTimeout: '2s' } } });
    h.vendors.akool.failTokens('http500', 1);
    const res = await h.get('/akool/x');
    expect(res.status).toBe(200);
    expect(h.vendors.akool.counts.tokenFetches).toBe(2);
  });

  it('UPSTREAM_UNREACHABLE (502) when the upstream refuses connections', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const config = compileConfig({
      listen: { port: 0 },
      upstreams: { a: { prefix: '/a', target: `http://127.0.0.1:${port}`, auth: { type: 'akool', clientId: 'i', clientSecret: 's', tokenUrl: `http://127.0.0.1:${port}/t` } } },
    }, { env: {} });
    const relay = createTokenRelay({ config, logger: createLogger({ level: 'silent' }) });
    const addr = await relay.listen(0);
    closers.push(() => relay.close(100));
    // The token fetch fails first (same dead host): that is TOKEN_FETCH_FAILED, and says so.
    const res = await request(`http://127.0.0.1:${addr.port}`).get('/a/x').expect(502);
    expect(res.body.error.code).toBe('TOKEN_FETCH_FAILED');
    expect(res.body.error.message).toContain('ECONNREFUSED');
  });

  it('UPSTREAM_UNREACHABLE when the API host is down but the token endpoint works; UPSTREAM_TIMEOUT (504) when it stalls', async () => {
    h = await startHarness({ kinds: ['akool'] });
    let mode: 'slow' | 'reset' = 'slow';
    const api: Server = createServer((req, res) => {
      if (mode === 'reset') return req.socket.destroy();
      setTimeout(() => res.end('late'), 2000).unref();
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => { api.closeAllConnections(); api.close(r); }));
    const config = compileConfig({
      listen: { port: 0 },
      upstreams: {
        akool: {
          prefix: '/akool', target: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, timeout: '300ms',
          auth: { type: 'akool', ...h.vendors.akool.credentials, tokenUrl: `${h.vendors.akool.url}/api/open/v3/getToken` },
        },
      },
    }, { env: {} });
    const relay = createTokenRelay({ config, logger: createLogger({ level: 'silent' }) });
    const addr = await relay.listen(0);
    closers.push(() => relay.close(100));
    const slow = await request(`http://127.0.0.1:${addr.port}`).get('/akool/x').expect(504);
    expect(slow.body.error.code).toBe('UPSTREAM_TIMEOUT');
    mode = 'reset';
    const reset = await request(`http://127.0.0.1:${addr.port}`).get('/akool/x').expect(502);
    expect(reset.body.error.code).toBe('UPSTREAM_UNREACHABLE');
  });
});
