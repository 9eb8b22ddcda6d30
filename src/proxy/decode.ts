/**
 * Decoding a compressed answer for inspection only. Vendors behind nginx or a CDN gzip their
 * JSON for every client that asks (Node's fetch, Python requests, axios, curl --compressed all
 * do), so the expired-token code sits in compressed bytes. The client always receives the
 * vendor's own bytes; this copy is only read, and is bounded both ways: the input is what was
 * peeked (at most `limits.inspectBytes`), each step's output at most `limit` bytes, so a
 * compression bomb grows nothing.
 */
import { brotliDecompressSync, constants, gunzipSync, inflateRawSync, inflateSync, type ZlibOptions } from 'node:zlib';

type Step = (input: Buffer, limit: number) => Buffer;

const gzip: Step = (b, limit) => gunzipSync(b, { maxOutputLength: limit } as ZlibOptions);
// RFC 9110 §8.4.1.2: "deflate" is the zlib format, but servers have long sent raw deflate too
// (browsers and undici accept both): try one, then the other.
const deflate: Step = (b, limit) => {
  try {
    return inflateSync(b, { maxOutputLength: limit } as ZlibOptions);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw err;
    return inflateRawSync(b, { maxOutputLength: limit } as ZlibOptions);
  }
};
const br: Step = (b, limit) => brotliDecompressSync(b, { maxOutputLength: limit, params: { [constants.BROTLI_DECODER_PARAM_LARGE_WINDOW]: 0 } } as ZlibOptions);

const STEPS: Readonly<Record<string, Step>> = { gzip, 'x-gzip': gzip, deflate, br };

/** The codings of a `Content-Encoding` value in the order they were applied ('identity' left out). */
export function contentCodings(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const s = Array.isArray(value) ? value.join(',') : value;
  const out: string[] = [];
  for (const part of s.split(',')) {
    const c = part.trim().toLowerCase();
    if (c && c !== 'identity') out.push(c);
  }
  return out;
}

/** Whether every coding in the chain is one this module can undo (else: not inspected). */
export function canDecode(codings: readonly string[]): boolean {
  for (const c of codings) if (!STEPS[c]) return false;
  return true;
}

/**
 * The body with its content codings undone (last applied, first undone), or undefined when it
 * cannot be read within `limit` bytes: an unknown coding, a corrupt or truncated stream, or an
 * output larger than the limit. Undefined means "not an expired-token signal".
 */
export function decodeBody(body: Buffer, contentEncoding: string | string[] | undefined, limit: number): Buffer | undefined {
  if (contentEncoding === undefined) return body;
  const codings = contentCodings(contentEncoding);
  if (codings.length === 0) return body;
  if (!canDecode(codings)) return undefined;
  let out = body;
  try {
    for (let i = codings.length - 1; i >= 0; i--) out = STEPS[codings[i]!]!(out, limit);
  } catch {
    return undefined;
  }
  return out;
}
