/**
 * Deciding whether an upstream answer says "token expired". Statuses decide without reading
 * where they can; a body-level code is looked for only in small JSON answers, reading at most
 * `limit` bytes (compressed or not: decode.ts undoes gzip, deflate and br within the same bound).
 * Everything else (event streams, downloads, large bodies, unknown codings) is never held back.
 */
import { canDecode, contentCodings, decodeBody } from './decode.js';
import { codeMatches, readPath } from '../util/json-path.js';
import type { ExpiredWhen } from '../config/providers.js';

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;

type Headers = Record<string, string | string[] | undefined>;

/** Answers that never carry a body (RFC 9110 §6.4.1): nothing to read, nothing to wait for. */
function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** The error a Bearer challenge names (RFC 6750 §3), or undefined when it names none. */
function challengeError(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header.join(', ') : header;
  if (!h) return undefined;
  return /\berror\s*=\s*"?([A-Za-z_]+)"?/i.exec(h)?.[1];
}

/** A small JSON answer in a coding we can undo: worth reading (at most `limit` bytes). */
function readable(headers: Headers, limit: number): boolean {
  const ct = headers['content-type'];
  if (typeof ct !== 'string' || !JSON_TYPE.test(ct)) return false;
  const ce = headers['content-encoding'];
  if (ce !== undefined && !canDecode(contentCodings(ce))) return false;
  const cl = headers['content-length'];
  return typeof cl !== 'string' || Number(cl) <= limit;
}

/**
 * How many bytes of this answer to read before deciding: 0 when the status decides alone (or
 * there is no body), else `limit`. A Bearer 401 that names no error in its challenge is read:
 * many OAuth2 servers put `{"error": "..."}` in the body instead.
 */
export function peekLimit(when: ExpiredWhen, status: number, headers: Headers, limit: number): number {
  if (bodyless(status)) return 0;
  if (when.status.includes(status)) {
    const open = when.bearerChallenge && challengeError(headers['www-authenticate']) === undefined;
    return open && readable(headers, limit) ? limit : 0;
  }
  return when.bodyCodes.length > 0 && readable(headers, limit) ? limit : 0;
}

/** RFC 6750 §3.1 errors that mean something other than an expired token. */
const NOT_EXPIRED = new Set(['invalid_request', 'insufficient_scope']);

// The codes as UTF-8 bytes, made once per rule set.
const needles = new WeakMap<ExpiredWhen, Buffer[]>();

/** The value at `bodyCodePath` in a complete JSON body (decoded first), or undefined. */
function bodyCode(when: ExpiredWhen, body: Buffer, encoding: string | string[] | undefined, limit: number, precheck: boolean): unknown {
  const plain = decodeBody(body, encoding, limit);
  if (!plain || plain.length === 0) return undefined;
  if (precheck) {
    let codes = needles.get(when);
    if (!codes) needles.set(when, (codes = when.bodyCodes.map((c) => Buffer.from(String(c)))));
    // Cheap pre-check on the bytes (no parsing): most answers are not expired-token answers,
    // and a body that does not contain any of the codes cannot carry one.
    let found = false;
    for (let i = 0; i < codes.length && !found; i++) found = plain.includes(codes[i]!);
    if (!found) return undefined;
  }
  try {
    return readPath(JSON.parse(plain.toString('utf8')), when.bodyCodePath);
  } catch {
    return undefined;
  }
}

/** True when the complete JSON body (in its content coding) carries one of the expired-token codes. */
function bodySaysExpired(when: ExpiredWhen, body: Buffer, encoding?: string | string[], limit = Infinity): boolean {
  if (when.bodyCodes.length === 0) return false;
  return codeMatches(bodyCode(when, body, encoding, limit, true), when.bodyCodes);
}

/**
 * Is this answer an expired-token signal? `body` is the whole body when it was read (see
 * peekLimit), else undefined.
 * RFC 6750 §3.1: a Bearer challenge that names an error means "expired" only for
 * `invalid_token`; one that names none means expired unless the JSON body names
 * `invalid_request` or `insufficient_scope`.
 */
export function answerSaysExpired(when: ExpiredWhen, status: number, headers: Headers, body: Buffer | undefined, limit: number): boolean {
  if (when.status.includes(status)) {
    if (!when.bearerChallenge) return true;
    const named = challengeError(headers['www-authenticate']);
    if (named !== undefined) return named === 'invalid_token';
    // Only an error RFC 6750 defines as something else overrides the status; any other (or
    // none) keeps the 401 an expired signal, as before the body was read.
    return !body || !NOT_EXPIRED.has(String(bodyCode(when, body, headers['content-encoding'], limit, false)));
  }
  return body !== undefined && bodySaysExpired(when, body, headers['content-encoding'], limit);
}
