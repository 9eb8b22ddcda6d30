/** `tokenrelay check` with tenants: what each may call, with which account, its keys and limits; `--fetch` fetches each tenant's own token. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeConfig } from '../../support/child.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';

const OWN: [string, string] = ['acct-checkout', 'SECRET-checkout-55aa66bb77cc'];

describe('tokenrelay check with tenants', () => {
  let akool: FakeVendor;
  let hitem: FakeVendor;
  beforeAll(async () => {
    akool = await startFakeVendor('akool', { accounts: [OWN] });
    hitem = await startFakeVendor('hitem3d');
  });
  afterAll(async () => {
    await akool.close();
    await hitem.close();
  });
  const config = (ownSecret: string) => writeConfig(`
upstreams:
  akool: { prefix: /akool, target: ${akool.url}, auth: { type: akool, clientId: "${akool.credentials.clientId}", clientSecret: "${akool.credentials.clientSecret}" } }
  hitem3d: { prefix: /hitem3d, target: ${hitem.url}, auth: { type: hitem3d, clientId: "${hitem.credentials.clientId}", clientSecret: "${hitem.credentials.clientSecret}" } }
tenants:
  checkout:
    keys: ["\${CHECKOUT_KEY}", "\${UNSET_KEY}"]
    upstreams: [akool]
    allow: { akool: ["POST /api/open/v3/content/"] }
    credentials: { akool: { clientId: "${OWN[0]}", clientSecret: "${ownSecret}" } }
    limits: { requestsPerSecond: 20, burst: 40, concurrent: 10, quota: { requests: 100000, per: month } }
  search:
    keys: ["\${SEARCH_KEY}"]
`);
  const env = { CHECKOUT_KEY: 'key-checkout-0f1e2d3c', SEARCH_KEY: 'key-search-4b5a6978' };

  it('lists each tenant: upstreams, accounts (own or the upstream\'s), keys set and missing, limits; never a key or a secret', async () => {
    const r = await runCli(['check', '--config', config(OWN[1])], env);
    expect(r.stdout).toMatch(/TENANT\s+UPSTREAMS\s+ACCOUNTS\s+KEYS\s+LIMITS/);
    const line = (name: string) => r.stdout.split('\n').find((l) => l.startsWith(`${name} `))!;
    expect(line('checkout')).toContain('akool (allow narrowed: akool)');
    expect(line('checkout')).toContain('akool: own (clientId present, clientSecret present)');
    expect(line('checkout')).toContain('1 set, MISSING tenants.checkout.keys.1 (environment variable UNSET_KEY is not set)');
    expect(line('checkout')).toContain('20/s burst 40, 10 in flight, 100000/month');
    expect(line('search')).toContain("akool: upstream's");
    expect(line('search')).toContain("hitem3d: upstream's");
    for (const secret of [OWN[1], ...Object.values(env), akool.credentials.clientSecret!]) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('--fetch fetches each tenant\'s own token, and fails on a tenant account the vendor refuses', async () => {
    const before = akool.fetchesBy[OWN[0]] ?? 0;
    const good = await runCli(['check', '--fetch', '--config', config(OWN[1])], env);
    expect(good.stdout).toMatch(/akool \(tenant checkout\)\s+\d+ms\s+\S+.*ok/);
    expect(akool.fetchesBy[OWN[0]]).toBe(before + 1);
    const bad = await runCli(['check', '--fetch', '--config', config('SECRET-wrong-000000000000')], env);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/akool \(tenant checkout\).*TOKEN_FETCH_FAILED/);
    expect(bad.stdout).not.toContain('SECRET-wrong-000000000000');
  });
});
