/**
 * Fetching a token: build the vendor's request from its `ask` strategy, send it with a
 * timeout, read a bounded answer. Validation is token-answer.ts's job.
 */
import { request, type Dispatcher } from 'undici';
import { TokenRelayError } from './errors.js';
import type { TokenAsk } from './providers.js';
import type { TokenAnswer } from './token-answer.js';

const MAX_ANSWER_BYTES = 256 * 1024;

/** Each client-auth method is a tiny function: credentials in, request headers and body out. */
const ASKERS: { [K in TokenAsk['kind']]: (ask: Extract<TokenAsk, { kind: K }>, creds: Readonly<Record<string, string>>) => { headers: Record<string, string>; body?: string } } = {
  json: (ask, creds) => ({
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(Object.fromEntries(Object.entries(ask.fields).map(([field, cred]) => [field, creds[cred] ?? '']))),
  }),
  basic: (ask, creds) => ({
    headers: {
      // SECURITY: this header is built here and sent only to the token URL.
      authorization: `Basic ${Buffer.from(`${creds[ask.user] ?? ''}:${creds[ask.password] ?? ''}`).toString('base64')}`,
      'content-type': 'application/json',
      accept: 'application/json',
    },
  }),
};

export function buildTokenRequest(ask: TokenAsk, creds: Readonly<Record<string, string>>) {
  return (ASKERS[ask.kind] as (a: TokenAsk, c: Readonly<Record<string, string>>) => { headers: Record<string, string>; body?: string })(ask, creds);
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return `timed out after ${timeoutMs}ms`;
  }
  if (code === 'ECONNREFUSED') return 'refused the connection (ECONNREFUSED)';
  if (code === 'UND_ERR_RESPONSE_EXCEEDED_MAX_SIZE') return `answered more than ${MAX_ANSWER_BYTES} bytes`;
  return `could not be reached (${code ?? e.name ?? 'error'})`;
}

export async function fetchTokenAnswer(
  url: URL,
  ask: TokenAsk,
  creds: Readonly<Record<string, string>>,
  { dispatcher, timeoutMs }: { dispatcher: Dispatcher; timeoutMs: number },
): Promise<TokenAnswer> {
  const { headers, body } = buildTokenRequest(ask, creds);
  try {
    const res = await request(url, {
      method: 'POST',
      headers,
      body: body ?? '',
      dispatcher,
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
