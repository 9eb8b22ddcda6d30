import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/util/errors.js';

const upstreams = {
  akool: { prefix: '/akool', target: 'https://openapi.akool.com', auth: { type: 'akool', clientId: 'id', clientSecret: 'sec' } },
  hitem3d: { prefix: '/hitem3d', target: 'https://api.hitem3d.ai', auth: { type: 'hitem3d', clientId: 'id', clientSecret: 'sec' } },
};

function problems(doc: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    compileConfig({ upstreams, ...doc }, { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a config error');
}

describe('tenants in the config', () => {
  it('compiles keys, upstreams, allow, own credentials and limits; tenants turn inbound authentication on', () => {
    const c = compileConfig({
      upstreams: { ...upstreams, hitem3d: { ...upstreams.hitem3d, rateLimit: { requestsPerSecond: 5 } } },
      tenants: {
        'checkout-service': {
          keys: ['${CHECKOUT_KEY}'], upstreams: ['akool', 'hitem3d'],
          allow: { akool: ['POST /api/open/v3/content/'] },
          credentials: { akool: { clientId: '${CO_ID}', clientSecretFile: '/run/secrets/co' } },
          limits: { requestsPerSecond: 20, burst: 40, concurrent: 10, quota: { requests: 100000, per: 'month' } },
        },
      },
    }, { env: { CHECKOUT_KEY: 'k1', CO_ID: 'co-id' }, readFile: () => 'co-secret\n' });
    expect(c.inbound).toEqual({ keys: [], header: 'x-tokenrelay-key', missing: [] });
    const t = c.tenants[0]!;
    expect(t.keys).toEqual(['k1']);
    expect(t.credentials.akool).toEqual({ values: { clientId: 'co-id', clientSecret: 'co-secret' }, missing: [], present: ['clientId', 'clientSecret'] });
    expect(t.allow.akool).toEqual([{ method: 'POST', path: '/api/open/v3/content/' }]);
    expect(t.limits).toEqual({ rate: { perSecond: 20, burst: 40 }, concurrent: 10, quota: { requests: 100000, per: 'month' } });
    expect(c.upstreams.find((u) => u.name === 'hitem3d')!.rateLimit).toEqual({ perSecond: 5, burst: 5 });
    expect(c.files).toContain('/run/secrets/co');
  });

  it('an unset tenant key or credential disables only that, naming the variable', () => {
    const c = compileConfig({ upstreams, tenants: { a: { keys: ['${A_KEY}', 'k2'], credentials: { akool: { clientId: 'x', clientSecret: '${A_SECRET}' } } } } }, { env: {} });
    expect(c.tenants[0]!.missingKeys).toEqual(['tenants.a.keys.0 (environment variable A_KEY is not set)']);
    expect(c.tenants[0]!.credentials.akool!.values).toBeUndefined();
    expect(c.tenants[0]!.credentials.akool!.missing).toEqual(['clientSecret (environment variable A_SECRET is not set)']);
  });

  it('a key in two places is an error naming both places, never the key', () => {
    const p = problems({ inbound: { apiKeys: ['same-key-1234'] }, tenants: { a: { keys: ['k-a'] }, b: { keys: ['k-b', 'same-key-1234'] }, c: { keys: ['k-a'] } } });
    expect(p).toContain('tenants.b.keys (key 2): the same key as inbound.apiKeys (key 1) (a key belongs to one tenant)');
    expect(p).toContain('tenants.c.keys (key 1): the same key as tenants.a.keys (key 1) (a key belongs to one tenant)');
    expect(p.join('\n')).not.toContain('same-key-1234');
  });

  it('names unknown upstreams and credential keys with a suggestion, and limits that do not make sense', () => {
    const p = problems({
      tenants: {
        a: {
          upstreams: ['akol'], allow: { hitem3d: ['GET /x'] }, credentials: { akool: { clientID: 'x' } },
          limits: { burst: 3, quota: { requests: 0, per: 'week' } },
        },
      },
    });
    expect(p).toEqual(expect.arrayContaining([
      expect.stringMatching(/^tenants\.a\.limits\.quota\.requests: /),
      expect.stringMatching(/^tenants\.a\.limits\.quota\.per: /),
    ]));
    const q = problems({ tenants: { a: { upstreams: ['akol'], allow: { hitem3d: ['GET /x'] }, credentials: { akool: { clientID: 'x' } }, limits: { burst: 3 } } } });
    expect(q).toEqual(expect.arrayContaining([
      'tenants.a.upstreams.0: unknown upstream "akol" (did you mean "akool"?); known: akool, hitem3d',
      'tenants.a.allow.hitem3d: "hitem3d" is not in tenants.a.upstreams',
      'tenants.a.credentials.akool: "akool" is not in tenants.a.upstreams',
      expect.stringMatching(/^tenants\.a\.credentials\.akool\.clientID: unknown credential of upstream akool "clientID" \(did you mean "clientId"\?\)/),
      'tenants.a.limits.burst: needs tenants.a.limits.requestsPerSecond',
    ]));
    expect(problems({ upstreams: { ...upstreams, akool: { ...upstreams.akool, rateLimit: { requestsPerSecond: 0 } } } })).toEqual([
      expect.stringMatching(/^upstreams\.akool\.rateLimit\.requestsPerSecond: /),
    ]);
  });
});
