/**
 * Validating a token endpoint's answer, apart from fetching it (so it is tested on hand-made
 * answers). Every failure is a TOKEN_FETCH_FAILED whose message says which kind it was.
 */
import { TokenRelayError } from '../util/errors.js';
import { codeMatches, readPath } from '../util/json-path.js';
import { jwtClaims } from '../util/jwt.js';
import type { TokenResponseSpec } from '../config/providers.js';

export interface TokenAnswer {
  status: number;
  contentType: string | undefined;
  text: string;
}

export interface TokenGrant {
  token: string;
  lifetimeMs: number;
  lifetimeSource: 'answer' | 'jwt' | 'default';
}

/**
 * A JWT whose `exp` says it lives less than this is treated as living this long (then a 401
 * refreshes it): Akool's documented example has `exp = iat + 1`. A lifetime the token answer
 * states (`expires_in`, a custom lifetime field) is used as stated.
 */
export const MIN_JWT_LIFETIME_MS = 60_000;
const MAX_REASON = 200;
const UNIT_MS = { milliseconds: 1, seconds: 1000, minutes: 60_000 } as const;

function fail(reason: string, transient = true): never {
  throw new TokenRelayError('TOKEN_FETCH_FAILED', `token endpoint ${reason}`, { transient });
}

/** Any run of this many characters of a credential counts as showing it. */
const FRAGMENT = 8;
/** Only the start of a message is ever shown: the work is bounded by this. */
const SCAN = 4096;

/**
 * SECURITY: a vendor's message could echo what it was sent; never let a credential through, not
 * even a part of one. Redact first, then cut (cutting first could leave the head of a secret
 * whose tail was cut off). Every run of FRAGMENT or more characters of a credential is hidden;
 * a credential shorter than that (4 to 7 characters) is hidden where it appears whole.
 */
export function scrub(text: string, secrets: readonly string[]): string {
  // One line, before matching: the secrets are matched as they would then read.
  const oneLine = (x: string) => x.replace(/[\r\n\t]+/g, ' ');
  const t = oneLine(text.length > SCAN ? text.slice(0, SCAN) : text);
  const hide = new Uint8Array(t.length);
  const mark = (needle: string) => {
    for (let at = t.indexOf(needle); at !== -1; at = t.indexOf(needle, at + 1)) hide.fill(1, at, at + needle.length);
  };
  for (const raw of secrets) {
    const s = oneLine(raw);
    if (s.length < 4) continue;
    if (s.length < FRAGMENT) mark(s);
    else for (let i = 0; i + FRAGMENT <= s.length; i++) mark(s.slice(i, i + FRAGMENT));
  }
  let out = '';
  for (let i = 0; i < t.length; i++) {
    if (!hide[i]) out += t[i];
    else if (i === 0 || !hide[i - 1]) out += '[REDACTED]';
  }
  return out.length > MAX_REASON || text.length > SCAN ? `${out.slice(0, MAX_REASON)}…` : out;
}

function vendorReason(body: unknown, shape: TokenResponseSpec, secrets: readonly string[]): string {
  const code = readPath(body, shape.errorCodePath ?? shape.success?.path ?? 'code');
  const msg = shape.messagePaths.map((p) => readPath(body, p)).find((m) => typeof m === 'string' && m !== '');
  const codeText = typeof code === 'string' || typeof code === 'number' ? String(code) : 'no code';
  return msg === undefined ? `(${scrub(codeText, secrets)})` : `${scrub(msg as string, secrets)} (${scrub(codeText, secrets)})`;
}

export function parseTokenAnswer(
  answer: TokenAnswer,
  shape: TokenResponseSpec,
  opts: { defaultLifetimeMs: number; nowMs: number; secrets: readonly string[] },
): TokenGrant {
  const { status, contentType, text } = answer;
  if (text.trim() === '') fail(`answered HTTP ${status} with an empty body`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    const kind = /html/i.test(contentType ?? '') || /^\s*</.test(text) ? 'HTML' : 'a non-JSON body';
    fail(`answered HTTP ${status} with ${kind}${contentType ? ` (${contentType.split(';')[0]})` : ''}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) fail(`answered HTTP ${status} with JSON that is not an object`);
  if (status < 200 || status >= 300) fail(`answered HTTP ${status}: ${vendorReason(body, shape, opts.secrets)}`, status >= 500);
  // A well-formed business refusal (bad credentials, banned account) is not retried at once.
  if (shape.success && !codeMatches(readPath(body, shape.success.path), shape.success.equals)) {
    fail(`refused: ${vendorReason(body, shape, opts.secrets)}`, false);
  }
  const token = readPath(body, shape.token);
  if (typeof token !== 'string' || token.trim() === '') fail(`answered success without a token at "${shape.token}"`);
  if (/[\r\n\0]/.test(token)) fail('answered a token with characters not allowed in a header');
  return { token, ...lifetimeOf(body, token, shape, opts) };
}

function lifetimeOf(
  body: unknown,
  token: string,
  shape: TokenResponseSpec,
  opts: { defaultLifetimeMs: number; nowMs: number },
): Pick<TokenGrant, 'lifetimeMs' | 'lifetimeSource'> {
  if (shape.lifetime) {
    const raw = readPath(body, shape.lifetime.path);
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n === 'number' && Number.isFinite(n) && n > 0) {
      const ms = n * UNIT_MS[shape.lifetime.unit];
      return { lifetimeMs: ms, lifetimeSource: 'answer' };
    }
  }
  const claims = jwtClaims(token);
  if (claims?.exp !== undefined) {
    // Both readings of the remaining life; the shorter one is safe against our clock running
    // behind the vendor's (exp - now would overstate it) and against a long-issued token.
    let ms = claims.exp * 1000 - opts.nowMs;
    if (claims.iat !== undefined) ms = Math.min(ms, (claims.exp - claims.iat) * 1000);
    return { lifetimeMs: Math.max(ms, MIN_JWT_LIFETIME_MS), lifetimeSource: 'jwt' };
  }
  return { lifetimeMs: opts.defaultLifetimeMs, lifetimeSource: 'default' };
}
