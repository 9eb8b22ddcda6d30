import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileConfig, loadConfigText } from '../../../src/config/load.js';
import { ConfigError, TokenRelayError } from '../../../src/util/errors.js';
import { PRESETS as PROVIDERS } from '../../../src/config/providers.js';
import { parseTokenAnswer } from '../../../src/tokens/token-answer.js';

/** Any input gives a value or a coded error, never an uncaught exception of another kind. */
function valueOrCoded(fn: () => unknown, errorType: new (...a: never[]) => Error): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof errorType)) throw err;
    expect((err as { code?: string }).code).toMatch(/^[A-Z_]+$/);
  }
}

const readFile = () => {
  throw Object.assign(new Error('no files in property tests'), { code: 'ENOENT' });
};

// Trees shaped like a config, with wrong types, odd keys and placeholders mixed in.
const leaf = fc.oneof(
  fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.constantFrom('akool', 'hitem3d', 'baidu-aiob', '/akool', '/a/b', 'https://x.example', '${X}', '${X:-d}', '10s', '1MiB', 'GET /x'),
);
const key = fc.constantFrom('listen', 'host', 'port', 'upstreams', 'prefix', 'target', 'auth', 'type', 'clientId', 'clientSecret',
  'clientSecretFile', 'accessKey', 'secretKey', 'tokenUrl', 'replay', 'limits', 'inbound', 'apiKeys', 'allow', 'tls', 'ca', 'x', '__proto__', 'constructor');
const tree = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(key, tie('node'), { maxKeys: 5 })),
})).node;

describe('property: the config loader', () => {
  it('any YAML text → a config or a ConfigError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => valueOrCoded(() => loadConfigText(text, { env: {}, readFile }), ConfigError)), { numRuns: 500 });
  });

  it('any config-shaped tree → a config or a ConfigError', () => {
    fc.assert(fc.property(tree, fc.dictionary(fc.constantFrom('X', 'Y'), fc.string()), (doc, env) =>
      valueOrCoded(() => compileConfig(doc, { env, readFile }), ConfigError)), { numRuns: 1000 });
  });

  it('an upstream with arbitrary field values → a config or a ConfigError', () => {
    fc.assert(fc.property(leaf, leaf, leaf, leaf, (prefix, target, type, secret) =>
      valueOrCoded(() => compileConfig({ upstreams: { u: { prefix, target, auth: { type, clientId: 'a', clientSecret: secret } } } }, { env: {}, readFile }), ConfigError)),
    { numRuns: 1000 });
  });
});

describe('property: token answer parsers', () => {
  const json = fc.jsonValue().map((v) => JSON.stringify(v));
  const envelope = fc.record({
    code: fc.oneof(fc.constantFrom(200, '200', 1000, 40010000), fc.jsonValue()),
    token: fc.oneof(fc.string(), fc.jsonValue()),
    msg: fc.oneof(fc.string(), fc.jsonValue()),
    data: fc.oneof(fc.record({ accessToken: fc.oneof(fc.string(), fc.jsonValue()), expiresTime: fc.oneof(fc.integer(), fc.string(), fc.jsonValue()) }), fc.jsonValue()),
  }, { requiredKeys: [] }).map((o) => JSON.stringify(o));
  const text = fc.oneof(fc.string(), json, envelope);

  for (const [type, p] of Object.entries(PROVIDERS)) {
    it(`${type}: any status, content type and body → a grant or TOKEN_FETCH_FAILED`, () => {
      fc.assert(fc.property(fc.integer({ min: 100, max: 599 }), fc.option(fc.string()), text, (status, contentType, body) => {
        valueOrCoded(() => {
          const g = parseTokenAnswer({ status, contentType: contentType ?? undefined, text: body }, p.response, { defaultLifetimeMs: p.defaultLifetimeMs, nowMs: Date.now(), secrets: ['s3cret-value'] });
          expect(typeof g.token).toBe('string');
          expect(g.lifetimeMs).toBeGreaterThan(0);
          expect(Number.isFinite(g.lifetimeMs)).toBe(true);
        }, TokenRelayError);
      }), { numRuns: 1000 });
    });
  }
});
