/**
 * Deciding whether an upstream answer says "token expired". Statuses decide without reading;
 * a body-level code is looked for only in small JSON answers, reading at most `limit` bytes.
 * Everything else (event streams, downloads, large bodies) is never held back.
 */
import { codeMatches, readPath } from './json-path.js';
import type { ExpiredWhen } from './providers.js';

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;

/** Whether this answer is worth reading: JSON, and small (or of unknown length). */
export function shouldPeek(
  when: ExpiredWhen, headers: Record<string, string | string[] | undefined>, limit: number,
): boolean {
  if (when.bodyCodes.length === 0) return false;
  const ct = headers['content-type'];
  if (typeof ct !== 'string' || !JSON_TYPE.test(ct)) return false;
  const cl = headers['content-length'];
  if (typeof cl === 'string') return Number(cl) <= limit;
  return true;
}

// The codes as UTF-8 bytes, made once per rule set.
const needles = new WeakMap<ExpiredWhen, Buffer[]>();

/** True when the complete JSON body carries one of the expired-token codes. */
export function bodySaysExpired(when: ExpiredWhen, body: Buffer): boolean {
  let codes = needles.get(when);
  if (!codes) needles.set(when, (codes = when.bodyCodes.map((c) => Buffer.from(String(c)))));
  // Cheap pre-check on the bytes (no decoding): most answers are not expired-token answers,
  // and a body that does not contain any of the codes cannot carry one.
  let found = false;
  for (let i = 0; i < codes.length && !found; i++) found = body.includes(codes[i]!);
  if (!found) return false;
  try {
    return codeMatches(readPath(JSON.parse(body.toString('utf8')), when.bodyCodePath), when.bodyCodes);
  } catch {
    return false;
  }
}

/**
 * RFC 6750 §3.1: a Bearer challenge that names an error means "expired" only for
 * `invalid_token`; one that names no error (no token was accepted at all) also does.
 */
function challengeSaysExpired(header: string | string[] | undefined): boolean {
  const h = Array.isArray(header) ? header.join(', ') : header;
  if (!h) return true;
  const m = /\berror\s*=\s*"?([A-Za-z_]+)"?/i.exec(h);
  return !m || m[1] === 'invalid_token';
}

/** Is an answer with this status (and challenge) an expired-token signal? */
export function statusSaysExpired(when: ExpiredWhen, status: number, wwwAuthenticate: string | string[] | undefined): boolean {
  return when.status.includes(status) && (!when.bearerChallenge || challengeSaysExpired(wwwAuthenticate));
}
