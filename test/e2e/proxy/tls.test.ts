import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';
import { ROOT } from '../../support/paths.js';

const dir = join(ROOT, 'test', 'fixtures', 'tls');
const tls = { key: readFileSync(join(dir, 'server.key'), 'utf8'), cert: readFileSync(join(dir, 'server.pem'), 'utf8') };

describe('HTTPS upstreams', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('verify certificates: an unknown CA is refused', async () => {
    h = await startHarness({ kinds: ['akool'], vendor: { tls } });
    const res = await h.get('/akool/x');
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('TOKEN_FETCH_FAILED');
    expect(h.vendors.akool.counts.tokenFetches).toBe(0);
  });

  it('tls.ca adds a CA (a file path or inline PEM)', async () => {
    h = await startHarness({ kinds: ['akool'], vendor: { tls }, upstream: { akool: { tls: { ca: join(dir, 'ca.pem') } } } });
    const res = await h.get('/akool/api/open/v3/voice/list');
    expect(res.status).toBe(200);
    expect(res.json.code).toBe(1000);
    expect(h.vendors.akool.seen.at(-1)!.token).toBe(h.vendors.akool.issued[0]);
  });
});
