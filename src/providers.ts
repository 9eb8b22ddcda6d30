/**
 * The vendors, as data. Each provider says how to ask for a token, how to read the answer,
 * how to inject the token and what an expired-token answer looks like. Shared code reads
 * these fields; it never asks which vendor it is talking to.
 */

/** How the token request carries the credentials: the one small strategy a vendor gets. */
export type TokenAsk =
  | { kind: 'json'; fields: Record<string, string> } // JSON body: {bodyField: credentialName}
  | { kind: 'basic'; user: string; password: string }; // Authorization: Basic base64(user:password)

export interface TokenAnswerShape {
  /** Where the business status lives, and the values that mean success (compared as strings). */
  successPath: string;
  successValues: readonly (string | number)[];
  tokenPath: string;
  /** Lifetime in the answer, if the vendor sends one. */
  lifetimePath?: string;
  lifetimeUnit?: 'seconds' | 'minutes';
  /** Fields that may hold the vendor's human-readable reason on failure. */
  messagePaths: readonly string[];
}

export interface ExpiredWhen {
  /** HTTP statuses that mean "token invalid or expired". */
  status: readonly number[];
  /** Body field (dotted path) and values, for vendors that answer HTTP 200 with an error code. */
  bodyCodePath: string;
  bodyCodes: readonly (string | number)[];
}

export interface ProviderSpec {
  type: string;
  /** Credential names this provider needs; each is a config key, with a `…File` twin. */
  credentials: readonly string[];
  /** Appended to the upstream's target when `auth.tokenUrl` is not set. */
  tokenPath: string;
  ask: TokenAsk;
  answer: TokenAnswerShape;
  /** Used when neither the answer nor a JWT `exp` claim says how long the token lives. */
  defaultLifetimeMs: number;
  inject: { header: string; scheme: string };
  expiredWhen: ExpiredWhen;
  /** Which parts of this provider are guesses, for the README and `check`. */
  unconfirmed?: readonly string[];
}

const HOUR = 3_600_000;

export const PROVIDERS = {
  akool: {
    type: 'akool',
    credentials: ['clientId', 'clientSecret'],
    tokenPath: '/api/open/v3/getToken',
    ask: { kind: 'json', fields: { clientId: 'clientId', clientSecret: 'clientSecret' } },
    answer: { successPath: 'code', successValues: [1000], tokenPath: 'token', messagePaths: ['msg', 'message'] },
    // Akool says "more than a year" and asks clients to cache; its tokens are JWTs, so the
    // `exp` claim normally decides. Without one we re-fetch daily: cheap, and it bounds how
    // long a token revoked out-of-band can linger before a refresh would be forced anyway.
    defaultLifetimeMs: 24 * HOUR,
    inject: { header: 'authorization', scheme: 'Bearer' },
    expiredWhen: { status: [401], bodyCodePath: 'code', bodyCodes: [1101] },
    unconfirmed: ['the HTTP status sent with code 1101 (HTTP 200 and 401 both handled)'],
  },
  hitem3d: {
    type: 'hitem3d',
    credentials: ['clientId', 'clientSecret'],
    tokenPath: '/open-api/v1/auth/token',
    ask: { kind: 'basic', user: 'clientId', password: 'clientSecret' },
    answer: {
      successPath: 'code', successValues: [200], tokenPath: 'data.accessToken', messagePaths: ['message', 'msg'],
    },
    defaultLifetimeMs: 24 * HOUR,
    inject: { header: 'authorization', scheme: 'Bearer' },
    expiredWhen: { status: [401], bodyCodePath: 'code', bodyCodes: [401] },
    unconfirmed: ['the HTTP status sent with body code 401 (HTTP 200 and 401 both handled)'],
  },
  'baidu-aiob': {
    type: 'baidu-aiob',
    credentials: ['accessKey', 'secretKey'],
    tokenPath: '/api/v2/getToken',
    ask: { kind: 'json', fields: { accessKey: 'accessKey', secretKey: 'secretKey' } },
    answer: {
      successPath: 'code', successValues: [200], tokenPath: 'data.accessToken',
      lifetimePath: 'data.expiresTime', lifetimeUnit: 'minutes', messagePaths: ['msg', 'message'],
    },
    defaultLifetimeMs: 30 * 24 * HOUR,
    // Raw token, no scheme: what every public client sends.
    inject: { header: 'authorization', scheme: '' },
    expiredWhen: { status: [401, 403], bodyCodePath: 'code', bodyCodes: [401] },
    unconfirmed: ['the raw Authorization format', 'the expired-token signal (HTTP 401/403 or body code 401)'],
  },
} as const satisfies Record<string, ProviderSpec>;

export type ProviderType = keyof typeof PROVIDERS;
export const PROVIDER_TYPES = Object.keys(PROVIDERS) as ProviderType[];

/** Every credential name any provider uses: config keys whose values are secrets. */
export const CREDENTIAL_KEYS: ReadonlySet<string> = new Set(
  Object.values(PROVIDERS).flatMap((p) => p.credentials),
);
