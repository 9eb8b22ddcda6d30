/**
 * Deciding whether an upstream answer says "token expired". Statuses decide without reading;
 * a body-level code is looked for only in small JSON answers, reading at most `limit` bytes.
 * Everything else (event streams, downloads, large bodies) is never held back.
 */
import type { Readable } from 'node:stream';
import { codeMatches, readPath } from './json-path.js';
import type { ExpiredWhen } from './providers.js';

export interface Peeked {
  chunks: Buffer[];
  /** True when the whole body is in `chunks`. */
  ended: boolean;
}

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

/** Reads until the body ends or more than `limit` bytes arrived; then leaves the stream paused. */
export function peek(stream: Readable, limit: number): Promise<Peeked> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > limit) {
        cleanup();
        stream.pause();
        resolve({ chunks, ended: false });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ chunks, ended: true });
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
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
