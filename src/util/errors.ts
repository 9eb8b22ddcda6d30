import { STATUS_CODES } from 'node:http';

/**
 * One table of every error tokenrelay answers with: a stable `code` (what clients and tests
 * match on), its HTTP status, and a default message. Messages never carry secrets or tokens.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'the request is malformed' },
  BAD_PATH: { status: 400, message: 'the path climbs out of its prefix or is not a path' },
  INBOUND_UNAUTHORIZED: { status: 401, message: 'a valid tokenrelay key is required' },
  NOT_ALLOWED: { status: 403, message: 'this call is not on the upstream\'s allow-list' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no upstream is configured for this path' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'this method is not proxied' },
  REQUEST_TIMEOUT: { status: 408, message: 'the client took too long to send its request' },
  BODY_TOO_LARGE: { status: 413, message: 'the request body is larger than limits.maxBodyBytes' },
  TENANT_RATE_LIMITED: { status: 429, message: 'this tenant is over its rate or concurrency limit' },
  QUOTA_EXCEEDED: { status: 429, message: 'this tenant has used its quota for the period' },
  UPSTREAM_RATE_LIMITED: { status: 429, message: 'the vendor asked for a pause (429 Retry-After) with this credential' },
  HEADERS_TOO_LARGE: { status: 431, message: 'the request head is larger than limits.maxHeaderBytes' },
  CREDENTIALS_MISSING: { status: 503, message: 'the credentials for this upstream are not configured' },
  TOKEN_FETCH_FAILED: { status: 502, message: 'could not obtain a token from the vendor' },
  UPSTREAM_UNREACHABLE: { status: 502, message: 'the upstream could not be reached' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'the upstream did not answer in time' },
  OVERLOADED: { status: 503, message: 'too many requests are waiting for this upstream' },
  SHUTTING_DOWN: { status: 503, message: 'tokenrelay is shutting down' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class TokenRelayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly upstream: string | undefined;
  /** For token fetches: worth one quick retry (a 5xx, a timeout, a garbled answer), unlike a refusal. */
  readonly transient: boolean;
  /** When trying again makes sense (sent as Retry-After), for refusals by a limit. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message?: string, options: { upstream?: string; cause?: unknown; transient?: boolean; retryAfterMs?: number } = {}) {
    super(message ?? ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TokenRelayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.upstream = options.upstream;
    this.transient = options.transient ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** The whole HTTP/1.1 answer, for sockets outside a request (parse errors, CONNECT, upgrades). */
  toRawResponse(): string {
    const body = this.toBody();
    return `HTTP/1.1 ${this.status} ${STATUS_CODES[this.status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
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
