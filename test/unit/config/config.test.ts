import { describe, expect, it } from 'vitest';
import { compileConfig, loadConfigText } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/util/errors.js';

const good = {
  upstreams: {
    akool: { prefix: '/akool', target: 'https://openapi.akool.com', auth: { type: 'akool', clientId: '${AKOOL_CLIENT_ID}', clientSecret: '${AKOOL_CLIENT_SECRET}' } },
    hitem3d: { prefix: '/hitem3d', target: 'https://api.hitem3d.ai', auth: { type: 'hitem3d', clientId: 'id', clientSecret: 'sec' } },
    'baidu-aiob': { prefix: '/baidu-aiob', target: 'https://aiob-open.baidu.com', auth: { type: 'baidu-aiob', accessKey: 'ak', secretKey: 'sk' } },
  },
};

function problems(doc: unknown, env: NodeJS.ProcessEnv = {}, readFile?: (p: string) => string): string[] {
  try {
    compileConfig(doc, { env, ...(readFile ? { readFile } : {}) });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    return (err as ConfigError).problems;
  }
  return [];
}

describe('config', () => {
  it('applies defaults: 127.0.0.1:8080, vendor token URLs and injection formats', () => {
    const c = compileConfig(good, { env: { AKOOL_CLIENT_ID: 'i', AKOOL_CLIENT_SECRET: 's' } });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    const by = Object.fromEntries(c.upstreams.map((u) => [u.name, u]));
    expect(by.akool!.tokenUrl!.href).toBe('https://openapi.akool.com/api/open/v3/getToken');
    expect(by.hitem3d!.tokenUrl!.href).toBe('https://api.hitem3d.ai/open-api/v1/auth/token');
    expect(by["baidu-aiob"]!.tokenUrl!.href).toBe('https://aiob-open.baidu.com/api/v2/getToken');
    expect(by['baidu-aiob']!.inject).toEqual({ header: 'authorization', prefix: '', suffix: '' });
    expect(by.akool!.inject).toEqual({ header: 'authorization', prefix: 'Bearer ', suffix: '' });
    expect(by.akool!.credentials).toEqual({ clientId: 'i', clientSecret: 's' });
    expect(c.replay).toMatchObject({ memoryBytes: 1024 * 1024, maxBytes: 256 * 1024 * 1024 });
    expect(c.limits).toMatchObject({ maxBodyBytes: 1024 ** 3, maxConcurrentPerUpstream: 256, maxQueuePerUpstream: 1024 });
    expect(c.inbound).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('fills ${VAR} and ${VAR:-default}; numbers may come from env', () => {
    const c = loadConfigText(`
listen: { host: "\${HOST:-0.0.0.0}", port: "\${PORT:-9000}" }
upstreams:
  a: { prefix: /a, target: "\${TARGET}", auth: { type: akool, clientId: x, clientSecret: y } }
`, { env: { TARGET: 'http://127.0.0.1:1234' } });
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(c.upstreams[0]!.target.href).toBe('http://127.0.0.1:1234/');
  });

  it('an unset secret disables its upstream and names the variable, without stopping start', () => {
    const c = compileConfig(good, { env: { AKOOL_CLIENT_ID: 'i' } });
    const akool = c.upstreams.find((u) => u.name === 'akool')!;
    expect(akool.credentials).toBeUndefined();
    expect(akool.missing.join()).toContain('AKOOL_CLIENT_SECRET');
  });

  it('reads …File secrets, trimming the trailing newline; an unreadable file disables the upstream', () => {
    const files: Record<string, string> = { '/run/s/secret': 'from-file\n' };
    const readFile = (p: string) => {
      if (p in files) return files[p]!;
      throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    };
    const doc = (file: string) => ({ upstreams: { a: { prefix: '/a', target: 'https://x.example', auth: { type: 'akool', clientId: 'i', clientSecretFile: file } } } });
    expect(compileConfig(doc('/run/s/secret'), { env: {}, readFile }).upstreams[0]!.credentials).toEqual({ clientId: 'i', clientSecret: 'from-file' });
    const missing = compileConfig(doc('/run/s/other'), { env: {}, readFile }).upstreams[0]!;
    expect(missing.credentials).toBeUndefined();
    expect(missing.missing[0]).toContain('ENOENT');
  });

  it('names the path and the bad value of an unknown auth type', () => {
    const doc = structuredClone(good) as any;
    doc.upstreams.hitem3d.auth.type = 'hitme3d';
    expect(problems(doc)).toContain('upstreams.hitem3d.auth.type: expected akool | hitem3d | baidu-aiob | oauth2 | custom | static, got "hitme3d" (did you mean hitem3d?)');
  });

  it('a missing required key says required, never unknown key', () => {
    const doc = structuredClone(good) as any;
    delete doc.upstreams.akool.prefix;
    delete doc.upstreams.hitem3d.auth;
    const p = problems(doc);
    expect(p).toContain('upstreams.akool.prefix: required');
    expect(p).toContain('upstreams.hitem3d.auth: required');
    expect(p.some((l) => l.includes('unknown key'))).toBe(false);
  });

  it('a misspelt key names the likely one, at the top and deeper', () => {
    const { upstreams, ...rest } = structuredClone(good) as any;
    expect(problems({ ...rest, upstream: upstreams })).toEqual(['upstreams: required', 'upstream: unknown key (did you mean upstreams?)']);
    const doc = structuredClone(good) as any;
    doc.upstreams.akool.timout = '5s';
    doc.upstreams.akool.auth.clientSecert = 'x';
    doc.limits = { inspectByte: 10 };
    const p = problems(doc);
    expect(p).toContain('upstreams.akool.timout: unknown key (did you mean timeout?)');
    expect(p).toContain('upstreams.akool.auth.clientSecert: unknown key (did you mean clientSecret?)');
    expect(p).toContain('limits.inspectByte: unknown key (did you mean inspectBytes?)');
    // Nothing close: no guess.
    doc.zzzzzz = 1;
    expect(problems(doc)).toContain('zzzzzz: unknown key');
  });

  it('a YAML syntax error gives its line and column, once', () => {
    let err: ConfigError | undefined;
    try {
      loadConfigText('upstreams:\n  a:\n    prefix: /a\n   target: x\n  b: [\n', { env: {} });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err!.problems).toHaveLength(1);
    expect(err!.problems[0]).toMatch(/^config: not valid YAML at line \d+, column \d+: /);
  });

  it('each problem once, and all of them (prefix rules too) in one pass', () => {
    const doc = structuredClone(good) as any;
    doc.upstreams.akool.target = 'nope';
    doc.upstreams.hitem3d.prefix = 'bad';
    doc.upstreams['baidu-aiob'].bogus = 1;
    const p = problems(doc);
    expect(p.filter((l) => l.startsWith('upstreams.akool.target:'))).toHaveLength(1);
    expect(p.some((l) => l.startsWith('upstreams.hitem3d.prefix:'))).toBe(true);
    expect(p).toContain('upstreams.baidu-aiob.bogus: unknown key');
    expect(new Set(p).size).toBe(p.length);
  });

  it('an empty variable is told apart from an unset one', () => {
    const c = compileConfig(good, { env: { AKOOL_CLIENT_ID: '' } });
    const akool = c.upstreams.find((u) => u.name === 'akool')!;
    expect(akool.missing).toEqual(['clientId (environment variable AKOOL_CLIENT_ID is empty)', 'clientSecret (environment variable AKOOL_CLIENT_SECRET is not set)']);
  });

  it('reports every problem, one line each: unknown keys, wrong types, bad URL', () => {
    const doc = structuredClone(good) as any;
    doc.listen = { port: 'eighty' };
    doc.upstreams.akool.target = 'not a url';
    doc.upstreams.akool.extra = 1;
    doc.upstreams.hitem3d.auth.clientSecret = 42;
    doc.bogus = true;
    const p = problems(doc);
    expect(p).toEqual(expect.arrayContaining([
      'listen.port: expected number, got "eighty"',
      'upstreams.akool.target: expected an http(s) URL, got "not a url"',
      'upstreams.akool.extra: unknown key',
      'bogus: unknown key',
    ]));
    // SECURITY: a wrongly typed secret is named, its value is not shown.
    expect(p).toContain('upstreams.hitem3d.auth.clientSecret: expected string, got <redacted>');
  });

  it('refuses duplicate and nested prefixes, and prefixes over the admin endpoints', () => {
    const doc = structuredClone(good) as any;
    doc.upstreams.hitem3d.prefix = '/akool';
    doc.upstreams['baidu-aiob'].prefix = '/akool/v2';
    const p = problems(doc);
    expect(p.some((l) => l.startsWith('upstreams.hitem3d.prefix:') && l.includes('duplicates'))).toBe(true);
    expect(p.some((l) => l.startsWith('upstreams.baidu-aiob.prefix:') && l.includes('nested'))).toBe(true);
    const admin = structuredClone(good) as any;
    admin.upstreams.akool.prefix = '/metrics';
    expect(problems(admin).some((l) => l.startsWith('upstreams.akool.prefix:'))).toBe(true);
    const bad = structuredClone(good) as any;
    bad.upstreams.akool.prefix = 'akool/';
    expect(problems(bad).some((l) => l.startsWith('upstreams.akool.prefix:'))).toBe(true);
  });

  it('an unset variable outside a secret is a config error naming it', () => {
    const doc = structuredClone(good) as any;
    doc.upstreams.akool.target = '${AKOOL_TARGET}';
    expect(problems(doc)).toContain('upstreams.akool.target: environment variable AKOOL_TARGET is not set');
  });

  it('accepts overrides: tokenUrl, header, scheme, expiredWhen, sizes and durations', () => {
    const doc = structuredClone(good) as any;
    doc.upstreams['baidu-aiob'].auth = { ...doc.upstreams['baidu-aiob'].auth, tokenUrl: 'https://t.example/tok', scheme: 'Bearer', header: 'X-Token', expiredWhen: { status: [401], bodyCodes: [401, 'E401'] } };
    doc.upstreams['baidu-aiob'].timeout = '2s';
    doc.replay = { maxBytes: '1MiB' };
    const c = compileConfig(doc, { env: { AKOOL_CLIENT_ID: 'a', AKOOL_CLIENT_SECRET: 'b' } });
    const b = c.upstreams.find((u) => u.name === 'baidu-aiob')!;
    expect(b.tokenUrl!.href).toBe('https://t.example/tok');
    expect(b.inject).toEqual({ header: 'x-token', prefix: 'Bearer ', suffix: '' });
    expect(b.expiredWhen).toEqual({ status: [401], bodyCodes: [401, 'E401'], bodyCodePath: 'code' });
    expect(b.timeoutMs).toBe(2000);
    expect(c.replay.maxBytes).toBe(1024 * 1024);
  });

  it('rejects YAML that does not parse, with a coded error', () => {
    expect(() => loadConfigText('upstreams: [unclosed')).toThrow(ConfigError);
  });
});

describe('config: trustForwardedFrom', () => {
  it('takes addresses and CIDRs, refuses anything else by path', () => {
    const c = compileConfig({ ...good, trustForwardedFrom: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8'] }, { env: {} });
    expect(c.trustForwardedFrom).toEqual(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
    const p = problems({ ...good, trustForwardedFrom: ['10.0.0.0/33', 'lb.internal', '::1/129'] });
    expect(p.filter((l) => l.startsWith('trustForwardedFrom.'))).toHaveLength(3);
  });
});
