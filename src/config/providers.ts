/**
 * Providers, as data. A provider says how to ask for a token, how to read the answer, how to
 * inject the token and what an expired-token answer looks like. The three vendors are presets
 * in exactly the form a `type: custom` entry is written in (see auth-types.ts); shared code reads
 * these fields and never asks which vendor it is talking to.
 */

/** `{name}` placeholders are filled with credentials (requests) or the token (inject). */
export type Template = string;

export interface TokenRequestSpec {
  method: 'POST' | 'GET' | 'PUT';
  /** A JSON or form body of templated fields; absent: an empty body. */
  body?: { type: 'json' | 'form'; fields: Readonly<Record<string, Template>> };
  /** HTTP Basic auth; `encode: form` form-urlencodes both parts first (RFC 6749 §2.3.1). */
  basicAuth?: { username: Template; password: Template; encode?: 'form' };
  headers?: Readonly<Record<string, Template>>;
}

export interface TokenResponseSpec {
  /** Where the business status lives and the values meaning success (compared as strings); absent: HTTP 2xx is success. */
  success?: { path: string; equals: readonly (string | number)[] };
  /** Dotted path of the token. */
  token: string;
  lifetime?: { path: string; unit: 'seconds' | 'minutes' | 'milliseconds' };
  /** Fields that may hold a human-readable reason on failure, and the machine-readable code. */
  messagePaths: readonly string[];
  errorCodePath?: string;
}

export interface ExpiredWhen {
  /** HTTP statuses that mean "token invalid or expired". */
  status: readonly number[];
  /** Body field (dotted path) and values, for vendors that answer HTTP 200 with an error code. */
  bodyCodePath: string;
  bodyCodes: readonly (string | number)[];
  /**
   * RFC 6750 §3.1: with a `WWW-Authenticate: Bearer error="…"` on such a status, only
   * `invalid_token` means expired (`insufficient_scope`, `invalid_request` do not).
   */
  bearerChallenge?: boolean;
}

export interface ProviderSpec {
  type: string;
  /** Credential names; each is a config key with a `…File` twin (custom: keys of `credentials`). */
  credentials: readonly string[];
  /** Appended to the upstream's target when no token URL is configured. */
  tokenPath?: string;
  request: TokenRequestSpec;
  response: TokenResponseSpec;
  /** Used when neither the answer nor a JWT `exp` claim says how long the token lives. */
  defaultLifetimeMs: number;
  inject: { header: string; template: Template };
  expiredWhen: ExpiredWhen;
  /** No token endpoint: the credential named `value` is injected as it is (type static). */
  static?: boolean;
  /** Which parts of this provider are guesses, for the README and `check`. */
  unconfirmed?: readonly string[];
}

const HOUR = 3_600_000;

export const PRESETS = {
  akool: {
    type: 'akool',
    credentials: ['clientId', 'clientSecret'],
    tokenPath: '/api/open/v3/getToken',
    request: { method: 'POST', body: { type: 'json', fields: { clientId: '{clientId}', clientSecret: '{clientSecret}' } } },
    response: { success: { path: 'code', equals: [1000] }, token: 'token', messagePaths: ['msg', 'message'] },
    // Akool says "more than a year" and asks clients to cache; its tokens are JWTs, so the
    // `exp` claim normally decides. Without one we re-fetch daily: cheap, and it bounds how
    // long a token revoked out-of-band can linger before a refresh would be forced anyway.
    defaultLifetimeMs: 24 * HOUR,
    inject: { header: 'authorization', template: 'Bearer {token}' },
    expiredWhen: { status: [401], bodyCodePath: 'code', bodyCodes: [1101] },
    unconfirmed: ['the HTTP status sent with code 1101 (HTTP 200 and 401 both handled)'],
  },
  hitem3d: {
    type: 'hitem3d',
    credentials: ['clientId', 'clientSecret'],
    tokenPath: '/open-api/v1/auth/token',
    request: {
      method: 'POST', basicAuth: { username: '{clientId}', password: '{clientSecret}' }, headers: { 'content-type': 'application/json' },
    },
    response: { success: { path: 'code', equals: [200] }, token: 'data.accessToken', messagePaths: ['message', 'msg'] },
    defaultLifetimeMs: 24 * HOUR,
    inject: { header: 'authorization', template: 'Bearer {token}' },
    expiredWhen: { status: [401], bodyCodePath: 'code', bodyCodes: [401] },
    unconfirmed: ['the HTTP status sent with body code 401 (HTTP 200 and 401 both handled)'],
  },
  'baidu-aiob': {
    type: 'baidu-aiob',
    credentials: ['accessKey', 'secretKey'],
    tokenPath: '/api/v2/getToken',
    request: { method: 'POST', body: { type: 'json', fields: { accessKey: '{accessKey}', secretKey: '{secretKey}' } } },
    response: {
      success: { path: 'code', equals: [200] }, token: 'data.accessToken',
      lifetime: { path: 'data.expiresTime', unit: 'minutes' }, messagePaths: ['msg', 'message'],
    },
    defaultLifetimeMs: 30 * 24 * HOUR,
    // Raw token, no scheme: what every public client sends.
    inject: { header: 'authorization', template: '{token}' },
    expiredWhen: { status: [401, 403], bodyCodePath: 'code', bodyCodes: [401] },
    unconfirmed: ['the raw Authorization format', 'the expired-token signal (HTTP 401/403 or body code 401)'],
  },
} as const satisfies Record<string, ProviderSpec>;

export type PresetType = keyof typeof PRESETS;
export const PRESET_TYPES = Object.keys(PRESETS) as PresetType[];

/** Config keys whose values are secrets wherever they appear. */
export const CREDENTIAL_KEYS: ReadonlySet<string> = new Set([
  ...Object.values(PRESETS).flatMap((p) => p.credentials), 'value',
]);

/** The inject template for a scheme: `Bearer {token}`, or the raw token when the scheme is empty. */
export function schemeTemplate(scheme: string): Template {
  return scheme ? `${scheme} {token}` : '{token}';
}

/** A `{name}` placeholder. */
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Fills `{name}` placeholders; unknown names are left as they are. */
export function fill(template: Template, values: Readonly<Record<string, string>>): string {
  return template.replace(PLACEHOLDER, (all, name: string) => values[name] ?? all);
}

/** Placeholder names a template uses. */
export function placeholders(template: Template): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}
