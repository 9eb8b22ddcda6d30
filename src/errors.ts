/**
 * One table of every error tokenrelay answers with: a stable `code` (what clients and tests
 * match on), its HTTP status, and a default message. Messages never carry secrets or tokens.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'the request is malformed' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no upstream is configured for this path' },
  CREDENTIALS_MISSING: { status: 503, message: 'the credentials for this upstream are not configured' },
  TOKEN_FETCH_FAILED: { status: 502, message: 'could not obtain a token from the vendor' },
  UPSTREAM_UNREACHABLE: { status: 502, message: 'the upstream could not be reached' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'the upstream did not answer in time' },
  SHUTTING_DOWN: { status: 503, message: 'tokenrelay is shutting down' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class TokenRelayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly upstream: string | undefined;

  constructor(code: ErrorCode, message?: string, options: { upstream?: string; cause?: unknown } = {}) {
    super(message ?? ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TokenRelayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.upstream = options.upstream;
  }

  /** The JSON body sent to clients: `{"error":{"code","message","upstream"}}`. */
  toBody(): string {
    return JSON.stringify({ error: { code: this.code, message: this.message, upstream: this.upstream ?? null } });
  }
}

/** Configuration problems: each names the config path and the bad value; the CLI exits 2. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
