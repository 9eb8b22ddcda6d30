import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/util/errors.js';
import { createSecretBox, parseKey } from '../../../src/util/secret-box.js';

const upstreams = { a: { prefix: '/a', target: 'https://x.example', auth: { type: 'akool', clientId: 'i', clientSecret: 's' } } };
const problems = (tokenCache: unknown, env: NodeJS.ProcessEnv = {}) => {
  try {
    compileConfig({ upstreams, tokenCache }, { env });
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
};

describe('tokenCache config', () => {
  it('memory is the default', () => {
    expect(compileConfig({ upstreams }, { env: {} }).tokenCache).toEqual({ type: 'memory' });
  });

  it('redis with a 32-byte base64 key from env', () => {
    const key = randomBytes(32).toString('base64');
    const c = compileConfig({ upstreams, tokenCache: { type: 'redis', url: '${REDIS_URL}', encryptionKey: '${K}' } }, { env: { REDIS_URL: 'redis://h:6379', K: key } });
    expect(c.tokenCache).toMatchObject({ type: 'redis', url: 'redis://h:6379', keyPrefix: 'tokenrelay:' });
    expect(c.tokenCache.type === 'redis' && c.tokenCache.key.toString('base64')).toBe(key);
  });

  it('a redis cache without a key refuses to start, and says how to make one', () => {
    expect(problems({ type: 'redis', url: 'redis://h' })).toEqual([expect.stringMatching(/^tokenCache\.encryptionKey: required .*openssl rand -base64 32/)]);
    expect(problems({ type: 'redis', url: 'redis://h', encryptionKey: '${K}' })).toEqual(['tokenCache.encryptionKey: environment variable K is not set']);
  });

  it('a key that is not 32 bytes is refused without being shown', () => {
    const p = problems({ type: 'redis', url: 'redis://h', encryptionKey: 'c2hvcnQta2V5' });
    expect(p).toEqual(['tokenCache.encryptionKey: expected 32 random bytes in base64 (openssl rand -base64 32), got <redacted>']);
  });

  it('a redis URL is never echoed in an error', () => {
    const p = problems({ type: 'redis', url: 12345, encryptionKey: randomBytes(32).toString('base64') });
    expect(p.join()).toContain('tokenCache.url');
    expect(p.join()).not.toContain('12345');
  });
});

describe('secret box', () => {
  const key = parseKey(randomBytes(32).toString('base64'))!;
  const box = createSecretBox(key);
  it('round-trips, binds the value to its store key, and refuses other keys', () => {
    const sealed = box.seal('{"token":"t"}', 'k1');
    expect(sealed).not.toContain('token');
    expect(box.open(sealed, 'k1')).toBe('{"token":"t"}');
    expect(box.open(sealed, 'k2')).toBeUndefined();
    expect(createSecretBox(randomBytes(32)).open(sealed, 'k1')).toBeUndefined();
    expect(box.open('v1.garbage', 'k1')).toBeUndefined();
  });
  it('fingerprints are keyed', () => {
    expect(box.fingerprint('t')).not.toBe(createSecretBox(randomBytes(32)).fingerprint('t'));
    expect(parseKey('too-short')).toBeUndefined();
  });
});
