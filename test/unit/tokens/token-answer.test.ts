import { describe, expect, it } from 'vitest';
import { TokenRelayError } from '../../../src/util/errors.js';
import { PRESETS as PROVIDERS } from '../../../src/config/providers.js';
import fc from 'fast-check';
import { MIN_JWT_LIFETIME_MS, parseTokenAnswer, scrub } from '../../../src/tokens/token-answer.js';

const now = Date.UTC(2026, 10, 21);
const opts = (p: keyof typeof PROVIDERS) => ({ defaultLifetimeMs: PROVIDERS[p].defaultLifetimeMs, nowMs: now, secrets: ['sup3r-secret'] });
const answer = (body: unknown, status = 200, contentType = 'application/json') => ({ status, contentType, text: typeof body === 'string' ? body : JSON.stringify(body) });
const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenRelayError);
    return `${(err as TokenRelayError).code}: ${(err as Error).message}`;
  }
  return 'no error';
}

describe('token answers', () => {
  it('Akool: code 1000 and `token`; lifetime from the JWT exp claim', () => {
    const token = jwt({ iat: now / 1000, exp: now / 1000 + 3600 });
    const g = parseTokenAnswer(answer({ code: 1000, token }), PROVIDERS.akool.response, opts('akool'));
    expect(g).toEqual({ token, lifetimeMs: 3_600_000, lifetimeSource: 'jwt' });
  });

  it('Akool without a JWT falls back to the documented default', () => {
    const g = parseTokenAnswer(answer({ code: 1000, token: 'opaque' }), PROVIDERS.akool.response, opts('akool'));
    expect(g.lifetimeSource).toBe('default');
    expect(g.lifetimeMs).toBe(PROVIDERS.akool.defaultLifetimeMs);
  });

  it('a JWT whose exp is implausibly close is floored, not trusted to the second', () => {
    // Akool's documented example token: exp = iat + 1.
    const token = jwt({ iat: 1732867732, exp: 1732867733 });
    expect(parseTokenAnswer(answer({ code: 1000, token }), PROVIDERS.akool.response, opts('akool')).lifetimeMs).toBe(MIN_JWT_LIFETIME_MS);
  });

  it('a lifetime the answer states is used as stated, even under 60 s (no floor)', () => {
    const shape = { token: 'access_token', lifetime: { path: 'expires_in', unit: 'seconds' as const }, messagePaths: [] };
    for (const s of [5, 30, 59]) {
      const g = parseTokenAnswer(answer({ access_token: 'a', expires_in: s }), shape, opts('akool'));
      expect(g).toEqual({ token: 'a', lifetimeMs: s * 1000, lifetimeSource: 'answer' });
    }
    // The same token as a JWT with a short exp and no stated lifetime: floored.
    const token = jwt({ iat: now / 1000, exp: now / 1000 + 5 });
    expect(parseTokenAnswer(answer({ access_token: token }), shape, opts('akool'))).toMatchObject({ lifetimeMs: MIN_JWT_LIFETIME_MS, lifetimeSource: 'jwt' });
  });

  it('Hitem3D: code 200 as number or string; data.accessToken', () => {
    for (const c of [200, '200']) {
      const g = parseTokenAnswer(answer({ code: c, message: 'success', data: { accessToken: 'abc', tokenType: 'Bearer' } }), PROVIDERS.hitem3d.response, opts('hitem3d'));
      expect(g.token).toBe('abc');
      expect(g.lifetimeMs).toBe(24 * 3600_000);
    }
  });

  it('Hitem3D bad credentials (HTTP 200, code 40010000) is TOKEN_FETCH_FAILED with the vendor reason', () => {
    expect(code(() => parseTokenAnswer(answer({ code: 40010000, message: 'client credentials are invalid', data: {} }), PROVIDERS.hitem3d.response, opts('hitem3d'))))
      .toBe('TOKEN_FETCH_FAILED: token endpoint refused: client credentials are invalid (40010000)');
  });

  it('Baidu AIOB: lifetime from data.expiresTime in minutes', () => {
    const g = parseTokenAnswer(answer({ code: 200, msg: 'OK', data: { accessToken: 't', expiresTime: 43200, secretKey: 'sup3r-secret' } }), PROVIDERS['baidu-aiob'].response, opts('baidu-aiob'));
    expect(g).toEqual({ token: 't', lifetimeMs: 43200 * 60_000, lifetimeSource: 'answer' });
  });

  it.each([
    ['an empty body', answer(''), /empty body/],
    ['HTML', answer('<html>oops</html>', 502, 'text/html'), /HTML/],
    ['HTTP 5xx JSON', answer({ code: 10000000, message: 'system error' }, 500), /HTTP 500: system error \(10000000\)/],
    ['success without a token', answer({ code: 200, data: {} }), /without a token/],
    ['a JSON array', answer([1, 2]), /not an object/],
    ['a token with a newline', answer({ code: 200, data: { accessToken: 'a\r\nX-Evil: 1' } }), /not allowed in a header/],
  ])('%s is TOKEN_FETCH_FAILED', (_name, a, message) => {
    expect(code(() => parseTokenAnswer(a, PROVIDERS.hitem3d.response, opts('hitem3d')))).toMatch(message);
  });

  it('SECURITY: a vendor message that echoes a secret is scrubbed', () => {
    const msg = code(() => parseTokenAnswer(answer({ code: 4001, msg: 'secretKey sup3r-secret is wrong' }), PROVIDERS['baidu-aiob'].response, opts('baidu-aiob')));
    expect(msg).not.toContain('sup3r-secret');
    expect(msg).toContain('[REDACTED]');
  });

  /** Every run of 8 characters of `secret` that `text` shows. */
  const fragments = (text: string, secret: string) => {
    const found: string[] = [];
    for (let i = 0; i + 8 <= secret.length; i++) if (text.includes(secret.slice(i, i + 8))) found.push(secret.slice(i, i + 8));
    return found;
  };

  it('SECURITY: a long message ending with the secret shows no part of it (redacted before the cut)', () => {
    const secret = 'hitem3d-SECRET-0123456789abcdef';
    const text = `${'x'.repeat(180)} client secret was ${secret}`;
    const out = scrub(text, [secret]);
    expect(fragments(out, secret)).toEqual([]);
    expect(out.length).toBeLessThanOrEqual(201);
  });

  it('SECURITY (fuzzed): random vendor messages with a secret, or a piece of one, at any offset never show 8 of its characters', () => {
    fc.assert(fc.property(
      fc.string({ minLength: 8, maxLength: 48 }), fc.string({ maxLength: 400 }), fc.string({ maxLength: 400 }),
      fc.nat(), fc.nat(), fc.boolean(),
      (secret, before, after, a, b, cutSecret) => {
        // A whole secret, or any piece of 8+ characters of it (a message that quotes it cut short).
        const from = cutSecret ? a % (secret.length - 7) : 0;
        const to = cutSecret ? Math.min(secret.length, from + 8 + (b % secret.length)) : secret.length;
        const text = before + secret.slice(from, to) + after;
        const out = scrub(text, [secret, 'other-credential']);
        return fragments(out, secret).length === 0 && out.length <= 201;
      },
    ), { numRuns: 2000 });
  });
});
