/**
 * A fake OAuth2 authorization server and resource server, faithful to RFC 6749 (§4.4 client
 * credentials, §2.3.1 client authentication, §5.1/§5.2 answers) and RFC 6750 (§3.1 challenges).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLoopback } from './listen.js';
import { scenario, sendJson } from './nginx.js';

export interface FakeOAuth2 {
  url: string;
  clientId: string;
  clientSecret: string;
  tokenFetches: number;
  /** Each token request's form fields and how the client authenticated. */
  tokenRequests: Array<{ form: Record<string, string>; auth: 'basic' | 'post' | 'none' }>;
  issued: string[];
  apiSeen: Array<{ url: string; authorization: string | undefined }>;
  revokeAll(): void;
  expiresIn: number | undefined;
  /**
   * How a revoked token is refused: a 401 whose challenge names invalid_token (RFC 6750), a 401
   * whose challenge names no error and whose JSON body does, or a 200 with that JSON body.
   */
  expiredStyle: 'challenge' | 'body-401' | 'body-200';
  close(): Promise<void>;
}

const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));

export async function startFakeOAuth2(): Promise<FakeOAuth2> {
  // Characters that §2.3.1's form-encoding before Basic must survive.
  const clientId = `client:${randomBytes(3).toString('hex')}`;
  const clientSecret = `s3cr3t+/=&${randomBytes(8).toString('hex')}`;
  const valid = new Set<string>();
  const fake: FakeOAuth2 = {
    url: '', clientId, clientSecret, tokenFetches: 0, tokenRequests: [], issued: [], apiSeen: [],
    revokeAll: () => valid.clear(), expiresIn: 3600, expiredStyle: 'challenge',
    close: () => Promise.resolve(), // set once listening
  };
  // As a server behind nginx: JSON compressed when the client asks.
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    sendJson(res.req, res, status, body, 'auto', { 'cache-control': 'no-store', ...headers });
  };

  function token(req: IncomingMessage, res: ServerResponse, body: string) {
    fake.tokenFetches++;
    const form = Object.fromEntries(new URLSearchParams(body));
    let id: string | undefined;
    let secret: string | undefined;
    let auth: 'basic' | 'post' | 'none' = 'none';
    const h = req.headers.authorization;
    if (h?.startsWith('Basic ')) {
      const dec = Buffer.from(h.slice(6), 'base64').toString('utf8');
      const i = dec.indexOf(':');
      [id, secret] = [formDecode(dec.slice(0, i)), formDecode(dec.slice(i + 1))];
      auth = 'basic';
    } else if (form.client_id !== undefined) {
      [id, secret] = [form.client_id, form.client_secret];
      auth = 'post';
    }
    fake.tokenRequests.push({ form, auth });
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return json(res, 400, { error: 'invalid_request' });
    if (form.grant_type !== 'client_credentials') return json(res, 400, { error: 'unsupported_grant_type' });
    if (id !== clientId || secret !== clientSecret) {
      return json(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed' }, { 'www-authenticate': 'Basic realm="fake"' });
    }
    const access = randomBytes(16).toString('hex');
    valid.add(access);
    fake.issued.push(access);
    json(res, 200, { access_token: access, token_type: 'Bearer', ...(fake.expiresIn ? { expires_in: fake.expiresIn } : {}), ...(form.scope ? { scope: form.scope } : {}) });
  }

  function api(req: IncomingMessage, res: ServerResponse) {
    const h = req.headers.authorization;
    fake.apiSeen.push({ url: req.url ?? '', authorization: h });
    const tok = h?.startsWith('Bearer ') ? h.slice(7) : undefined;
    if (!tok) return json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer realm="fake"' });
    if (!valid.has(tok)) {
      if (fake.expiredStyle === 'body-401') return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer realm="fake"' });
      if (fake.expiredStyle === 'body-200') return json(res, 200, { error: 'invalid_token', error_description: 'The access token expired' });
      return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer realm="fake", error="invalid_token", error_description="The access token expired"' });
    }
    if (req.url?.startsWith('/api/admin')) return json(res, 403, { error: 'insufficient_scope' }, { 'www-authenticate': 'Bearer error="insufficient_scope", scope="admin"' });
    if (req.url?.startsWith('/__t/')) return scenario(req, res);
    if (req.url?.startsWith('/api/scope-in-body')) return json(res, 401, { error: 'insufficient_scope' }, { 'www-authenticate': 'Bearer realm="fake"' });
    if (req.url?.startsWith('/api/odd')) return json(res, 401, { error: 'invalid_request' }, { 'www-authenticate': 'Bearer error="invalid_request"' });
    json(res, 200, { ok: true, url: req.url });
  }

  const server = createServer((req, res) => {
    // Scenarios that read the body themselves, or answer before it is read.
    if (req.url === '/__t/early' || req.url === '/__t/echo') return api(req, res);
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => (req.method === 'POST' && req.url === '/oauth/token' ? token(req, res, body) : api(req, res)));
  });
  Object.assign(fake, await listenLoopback(server));
  return fake;
}
