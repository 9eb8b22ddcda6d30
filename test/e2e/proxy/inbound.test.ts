import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('who may use the proxy', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('inbound keys: missing or wrong → 401 INBOUND_UNAUTHORIZED; a right key passes and is never forwarded', async () => {
    h = await startHarness({ kinds: ['akool'], top: { inbound: { apiKeys: ['key-one-123', 'key-two-456'] } } });
    const none = await request(h.url).get('/akool/x').expect(401);
    expect(none.body.error.code).toBe('INBOUND_UNAUTHORIZED');
    const wrong = await request(h.url).get('/akool/x').set('X-Tokenrelay-Key', 'key-one-12').expect(401);
    expect(wrong.body.error.code).toBe('INBOUND_UNAUTHORIZED');
    expect(h.vendors.akool.counts.tokenFetches).toBe(0);
    await request(h.url).get('/akool/x').set('X-Tokenrelay-Key', 'key-two-456').expect(200);
    expect(h.vendors.akool.seen.at(-1)!.headers['x-tokenrelay-key']).toBeUndefined();
    // Probes need no key.
    await request(h.url).get('/healthz').expect(200);
    expect(h.logs.join('\n')).not.toContain('key-two-456');
  });

  it('with inbound keys on the app port, /readyz tells a caller without a key its status alone, /metrics nothing', async () => {
    h = await startHarness({ kinds: ['akool'], top: { inbound: { apiKeys: ['key-one-123'] } } });
    await request(h.url).get('/akool/x').set('X-Tokenrelay-Key', 'key-one-123').expect(200);
    const anon = await request(h.url).get('/readyz').expect(200);
    expect(anon.body).toEqual({ status: 'ready' });
    expect(anon.text).not.toContain(h.vendors.akool.url);
    const metrics = await request(h.url).get('/metrics').expect(401);
    expect(metrics.body.error.code).toBe('INBOUND_UNAUTHORIZED');
    const keyed = await request(h.url).get('/readyz').set('X-Tokenrelay-Key', 'key-one-123').expect(200);
    expect(keyed.body.upstreams.akool.target).toBe(h.vendors.akool.url);
    await request(h.url).get('/metrics').set('X-Tokenrelay-Key', 'key-one-123').expect(200);
    // On a separate admin port, everything, as before (the port is the boundary there).
    const admin = await startHarness({ kinds: ['akool'], top: { inbound: { apiKeys: ['key-one-123'] }, admin: { port: 0 } } });
    try {
      const url = `http://127.0.0.1:${admin.relay.adminAddress()!.port}`;
      expect((await request(url).get('/readyz').expect(200)).body.upstreams.akool).toBeDefined();
      await request(url).get('/metrics').expect(200);
    } finally {
      await admin.close();
    }
  });

  it('the header name is configurable', async () => {
    h = await startHarness({ kinds: ['akool'], top: { inbound: { apiKeys: ['k-abcdef'], header: 'X-App-Key' } } });
    await request(h.url).get('/akool/x').set('X-App-Key', 'k-abcdef').expect(200);
    expect(h.vendors.akool.seen.at(-1)!.headers['x-app-key']).toBeUndefined();
  });

  it('fails closed: inbound on with every key unset refuses everything', async () => {
    h = await startHarness({ kinds: ['akool'], top: { inbound: { apiKeys: ['${TOKENRELAY_KEY_UNSET}'] } } });
    expect((await request(h.url).get('/akool/x').set('X-Tokenrelay-Key', '').expect(401)).body.error.code).toBe('INBOUND_UNAUTHORIZED');
  });

  it('allow-list: only the listed methods and path prefixes are forwarded (403 NOT_ALLOWED)', async () => {
    h = await startHarness({ kinds: ['akool'], upstream: { akool: { allow: ['GET /api/open/v3/voice/', 'POST /api/open/v3/content/'] } } });
    await request(h.url).get('/akool/api/open/v3/voice/list?from=3').expect(200);
    await request(h.url).post('/akool/api/open/v3/content/image/createbyprompt').send({ prompt: 'x' }).expect(200);
    const denied = await request(h.url).delete('/akool/api/open/v3/voice/list').expect(403);
    expect(denied.body.error.code).toBe('NOT_ALLOWED');
    expect((await request(h.url).get('/akool/api/open/v4/faceswap/x').expect(403)).body.error.code).toBe('NOT_ALLOWED');
    expect(h.vendors.akool.counts.requests).toBe(2);
  });
});
