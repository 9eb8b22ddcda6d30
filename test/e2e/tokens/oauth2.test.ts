import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOAuth2, type FakeOAuth2 } from '../../support/fakes/oauth2.js';
import { startRelay } from '../../support/helpers.js';

describe('type: oauth2 (client credentials)', () => {
  let fake: FakeOAuth2;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  afterEach(async () => {
    await relay.close();
    await fake.close();
  });
  const upstream = (auth: Record<string, unknown> = {}) => ({
    api: {
      prefix: '/api-x', target: fake.url,
      auth: { type: 'oauth2', tokenUrl: `${fake.url}/oauth/token`, clientId: fake.clientId, clientSecret: fake.clientSecret, ...auth },
    },
  });

  it('client_secret_basic (default): form-encoded credentials in Basic, scope and params in the form; Bearer injected', async () => {
    fake = await startFakeOAuth2();
    relay = await startRelay(upstream({ scope: 'read write', params: { audience: 'https://api.example', resource: 'urn:x' } }));
    const r = await relay.get('/api-x/api/things');
    expect(r.status).toBe(200);
    expect(fake.tokenRequests[0]).toEqual({ auth: 'basic', form: { grant_type: 'client_credentials', scope: 'read write', audience: 'https://api.example', resource: 'urn:x' } });
    expect(fake.apiSeen.at(-1)!.authorization).toBe(`Bearer ${fake.issued[0]}`);
  });

  it('client_secret_post: credentials in the form body', async () => {
    fake = await startFakeOAuth2();
    relay = await startRelay(upstream({ clientAuth: 'client_secret_post' }));
    expect((await relay.get('/api-x/api/things')).status).toBe(200);
    expect(fake.tokenRequests[0]!.auth).toBe('post');
    expect(fake.tokenRequests[0]!.form.client_id).toBe(fake.clientId);
  });

  it('lifetime from expires_in; an hour when the answer has none', async () => {
    fake = await startFakeOAuth2();
    fake.expiresIn = 120;
    relay = await startRelay(upstream());
    await relay.get('/api-x/api/things');
    const line = relay.logs.map((l) => JSON.parse(l)).find((l) => l.event === 'token_fetch');
    expect(line).toMatchObject({ lifetimeSeconds: 120, lifetimeSource: 'answer' });
  });

  it('HTTP 401 with WWW-Authenticate error="invalid_token" is an expired token: one refresh, the request resent', async () => {
    fake = await startFakeOAuth2();
    relay = await startRelay(upstream());
    await relay.get('/api-x/api/things');
    fake.revokeAll();
    const r = await relay.get('/api-x/api/things');
    expect(r.status).toBe(200);
    expect(fake.tokenFetches).toBe(2);
  });

  it('a Bearer challenge with another error is not an expired token: passed through, no refresh', async () => {
    fake = await startFakeOAuth2();
    relay = await startRelay(upstream());
    expect((await relay.get('/api-x/api/odd')).status).toBe(401);
    expect((await relay.get('/api-x/api/admin')).status).toBe(403);
    expect(fake.tokenFetches).toBe(1);
  });

  it('an error answer (RFC 6749 §5.2) is TOKEN_FETCH_FAILED with the OAuth error code, never the secret', async () => {
    fake = await startFakeOAuth2();
    relay = await startRelay({ api: { ...upstream().api, auth: { ...upstream().api.auth, clientSecret: 'wrong' } } });
    const r = await relay.get('/api-x/api/things');
    expect(r.status).toBe(502);
    expect(r.json.error.code).toBe('TOKEN_FETCH_FAILED');
    expect(r.json.error.message).toContain('invalid_client');
    expect(r.json.error.message).toContain('Client authentication failed');
    expect(relay.logs.join('\n') + r.text).not.toContain(fake.clientSecret);
  });
});
