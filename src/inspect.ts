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

/** True when the complete JSON body carries one of the expired-token codes. */
export function bodySaysExpired(when: ExpiredWhen, body: Buffer): boolean {
  const text = body.toString('utf8');
  // Cheap pre-check: skip the parse unless one of the codes appears in the text at all.
  if (!when.bodyCodes.some((c) => text.includes(String(c)))) return false;
  try {
    return codeMatches(readPath(JSON.parse(text), when.bodyCodePath), when.bodyCodes);
  } catch {
    return false;
  }
}
