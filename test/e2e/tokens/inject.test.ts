import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('token injection, per vendor', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it('Akool gets "Authorization: Bearer <token>" from a JSON {clientId, clientSecret} fetch', async () => {
    const res = await request(h.url).get('/akool/api/open/v3/voice/list?from=3').expect(200);
    expect(res.body.code).toBe(1000);
    expect(h.vendors.akool.counts.tokenFetches).toBe(1);
    const seen = h.vendors.akool.seen.at(-1)!;
    expect(seen.headers.authorization).toBe(`Bearer ${h.vendors.akool.issued[0]}`);
    expect(seen.url).toBe('/api/open/v3/voice/list?from=3');
  });

  it('Hitem3D gets a Bearer token fetched with Basic auth', async () => {
    const res = await request(h.url).get('/hitem3d/open-api/v1/balance').expect(200);
    expect(res.body.code).toBe(200);
    expect(h.vendors.hitem3d.seen.at(-1)!.headers.authorization).toBe(`Bearer ${h.vendors.hitem3d.issued[0]}`);
  });

  it('Baidu AIOB gets the raw token, no scheme', async () => {
    const res = await request(h.url).get('/baidu-aiob/api/v1/did/list').expect(200);
    expect(res.body.code).toBe(200);
    expect(h.vendors['baidu-aiob'].seen.at(-1)!.headers.authorization).toBe(h.vendors['baidu-aiob'].issued[0]);
  });

  it("replaces the client's own Authorization with the proxy's", async () => {
    await request(h.url).get('/akool/api/open/v3/voice/list').set('Authorization', 'Bearer client-own-token').expect(200);
    const seen = h.vendors.akool.seen.at(-1)!;
    expect(seen.headers.authorization).not.toContain('client-own-token');
    expect(seen.token).toBe(h.vendors.akool.issued[0]);
  });

  it('reuses the cached token: one fetch for many requests', async () => {
    for (let i = 0; i < 5; i++) await request(h.url).get('/akool/x').expect(200);
    expect(h.vendors.akool.counts.tokenFetches).toBe(1);
  });
});
