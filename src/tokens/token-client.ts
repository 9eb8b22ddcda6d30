/**
 * Fetching a token: build the request from the provider's declarative `request` (templates
 * filled with credentials), send it with a timeout, read a bounded answer. Validation is
 * token-answer.ts's job.
 */
import type { Dispatcher } from '../util/undici.js';
import { TokenRelayError } from '../util/errors.js';
import { fill, type TokenRequestSpec } from '../config/providers.js';
import type { TokenAnswer } from './token-answer.js';

const MAX_ANSWER_BYTES = 256 * 1024;

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 wants for Basic client credentials. */
const formEncode = (s: string) => new URLSearchParams({ v: s }).toString().slice(2);

const mapValues = (o: Readonly<Record<string, string>>, creds: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fill(v, creds)]));

export function buildTokenRequest(spec: TokenRequestSpec, creds: Readonly<Record<string, string>>) {
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k.toLowerCase()] = fill(v, creds);
  if (spec.basicAuth) {
    let user = fill(spec.basicAuth.username, creds);
    let pass = fill(spec.basicAuth.password, creds);
    if (spec.basicAuth.encode === 'form') [user, pass] = [formEncode(user), formEncode(pass)];
    // SECURITY: built here and sent only to the token URL.
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  let body: string | undefined;
  if (spec.body && spec.method !== 'GET') {
    const fields = mapValues(spec.body.fields, creds);
    if (spec.body.type === 'json') {
      body = JSON.stringify(fields);
      headers['content-type'] ??= 'application/json';
    } else {
      body = new URLSearchParams(fields).toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    }
  }
  return { method: spec.method, headers, body };
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return `timed out after ${timeoutMs}ms`;
  }
  if (code === 'ECONNREFUSED') return 'refused the connection (ECONNREFUSED)';
  return `could not be reached (${code ?? e.name ?? 'error'})`;
}

export async function fetchTokenAnswer(
  url: URL,
  spec: TokenRequestSpec,
  creds: Readonly<Record<string, string>>,
  { dispatcher, timeoutMs }: { dispatcher: Dispatcher; timeoutMs: number },
): Promise<TokenAnswer> {
  const { method, headers, body } = buildTokenRequest(spec, creds);
  try {
    const res = await dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method,
      headers,
      body: method === 'GET' ? undefined : (body ?? ''),
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_ANSWER_BYTES) {
        res.body.destroy();
        throw new TokenRelayError('TOKEN_FETCH_FAILED', `token endpoint answered more than ${MAX_ANSWER_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    const ct = res.headers['content-type'];
    return { status: res.statusCode, contentType: Array.isArray(ct) ? ct[0] : ct, text: Buffer.concat(chunks).toString('utf8') };
  } catch (err) {
    if (err instanceof TokenRelayError) throw err;
    throw new TokenRelayError('TOKEN_FETCH_FAILED', `token endpoint ${describeNetworkError(err, timeoutMs)}`, { cause: err, transient: true });
  }
}
