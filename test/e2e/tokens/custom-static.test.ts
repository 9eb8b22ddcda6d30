import { afterEach, describe, expect, it } from 'vitest';
import { startFakeCustomApi } from '../../support/fakes/custom-api.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';
import { startRelay } from '../../support/helpers.js';

type Relay = Awaited<ReturnType<typeof startRelay>>;

describe('type: custom and type: static', () => {
  let relay: Relay | undefined;
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
    for (const c of closers.splice(0)) await c();
  });

  it('custom: a fourth API by configuration alone (JSON body with placeholders, a header, a success field, lifetime, inject template, body-code expiry)', async () => {
    const api = await startFakeCustomApi();
    closers.push(api.close);
    relay = await startRelay({
      acme: {
        prefix: '/acme', target: api.url,
        auth: {
          type: 'custom',
          credentials: { key: api.key, secret: api.secret, tenant: api.tenant },
          request: { method: 'POST', url: `${api.url}/v1/session`, body: { type: 'json', fields: { key: '{key}', secret: '{secret}' } }, headers: { 'X-Tenant': '{tenant}' } },
          response: { success: { path: 'status', equals: ['ok'] }, token: 'result.session', lifetime: { path: 'result.ttl_ms', unit: 'milliseconds' }, messagePaths: ['message'], errorCodePath: 'errcode' },
          inject: { header: 'X-Session', template: 'sess {token}' },
          expiredWhen: { status: [401], bodyCodePath: 'errcode', bodyCodes: ['E_SESSION'] },
        },
      },
    });
    const r = await relay.get('/acme/v1/things');
    expect(r.json).toMatchObject({ status: 'ok' });
    expect(api.seen.at(-1)!['x-session']).toBe(`sess ${api.issued[0]}`);
    expect(relay.logs.map((l) => JSON.parse(l)).find((l) => l.event === 'token_fetch')).toMatchObject({ lifetimeSeconds: 600, lifetimeSource: 'answer' });
    api.revokeAll();
    expect((await relay.get('/acme/v1/things')).json.status).toBe('ok');
    expect(api.sessions).toBe(2);
  });

  it('custom: a refusal is TOKEN_FETCH_FAILED with the API’s code and message', async () => {
    const api = await startFakeCustomApi();
    closers.push(api.close);
    relay = await startRelay({
      acme: {
        prefix: '/acme', target: api.url,
        auth: {
          type: 'custom', credentials: { key: api.key, secret: 'wrong' },
          request: { url: `${api.url}/v1/session`, body: { type: 'json', fields: { key: '{key}', secret: '{secret}' } } },
          response: { success: { path: 'status', equals: ['ok'] }, token: 'result.session', errorCodePath: 'errcode' },
        },
      },
    });
    const r = await relay.get('/acme/x');
    expect(r.json.error.code).toBe('TOKEN_FETCH_FAILED');
    expect(r.json.error.message).toContain('bad key or secret (E_AUTH)');
  });

  it('the built-in vendors are presets a custom entry could have written: Akool served by its preset written out as custom', async () => {
    const akool: FakeVendor = await startFakeVendor('akool');
    closers.push(akool.close);
    relay = await startRelay({
      akool: {
        prefix: '/akool', target: akool.url,
        auth: {
          type: 'custom', credentials: akool.credentials,
          request: { method: 'POST', url: `${akool.url}/api/open/v3/getToken`, body: { type: 'json', fields: { clientId: '{clientId}', clientSecret: '{clientSecret}' } } },
          response: { success: { path: 'code', equals: [1000] }, token: 'token', defaultLifetime: '24h', messagePaths: ['msg', 'message'] },
          inject: { header: 'authorization', template: 'Bearer {token}' },
          expiredWhen: { status: [401], bodyCodePath: 'code', bodyCodes: [1101] },
        },
      },
    });
    expect((await relay.get('/akool/api/open/v3/voice/list')).json.code).toBe(1000);
    akool.revokeAll();
    expect((await relay.get('/akool/api/open/v3/voice/list')).json.code).toBe(1000);
    expect(akool.counts.tokenFetches).toBe(2);
  });

  it('custom: a placeholder that names no credential is a config error', async () => {
    await expect(startRelay({
      x: { prefix: '/x', target: 'http://127.0.0.1:9', auth: { type: 'custom', credentials: { a: 'b' }, request: { url: 'http://127.0.0.1:9/t', body: { type: 'form', fields: { k: '{nope}' } } }, response: { token: 't' } } },
    })).rejects.toMatchObject({ code: 'CONFIG_INVALID', problems: [expect.stringContaining('upstreams.x.auth.request.body.fields.k: unknown placeholder {nope}')] });
  });

  it('static: a fixed key injected as a header (Akool accepts its key as x-api-key), with an optional scheme', async () => {
    const api = await startFakeCustomApi();
    closers.push(api.close);
    relay = await startRelay({
      keyed: { prefix: '/keyed', target: api.url, auth: { type: 'static', header: 'x-api-key', value: api.apiKey } },
      schemed: { prefix: '/schemed', target: api.url, auth: { type: 'static', header: 'authorization', value: api.apiKey, scheme: 'Token' } },
    });
    const r = await relay.get('/keyed/static/thing', { headers: { 'x-api-key': 'client-supplied' } });
    expect(r.json.status).toBe('ok');
    expect(api.seen.at(-1)!['x-api-key']).toBe(api.apiKey);
    await relay.get('/schemed/static/thing');
    expect(api.seen.at(-1)!.authorization).toBe(`Token ${api.apiKey}`);
    expect(relay.logs.join('\n')).not.toContain(api.apiKey);
    const ready = await relay.get('/readyz');
    expect(ready.json.upstreams.keyed.token.state).toBe('valid');
    expect(ready.text).not.toContain(api.apiKey);
  });
});
