/**
 * Fake Akool, Hitem3D and Baidu AIOB servers, faithful to docs/vendors.md: the same token
 * endpoints, request shapes, answer envelopes and expired-token signals. Started on port 0;
 * they count what they see and can revoke tokens, reject credentials and fail on demand.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { listenLoopback } from './listen.js';
import { codingsFor, encode, scenario, sendJson as nginxJson, type CompressMode } from './nginx.js';

export type VendorKind = 'akool' | 'hitem3d' | 'baidu-aiob';
export type TokenFailure = 'http500' | 'html' | 'empty' | 'refused-code' | 'garbled' | 'hang';

interface VendorTraits {
  tokenPath: string;
  credentialNames: [string, string];
  /** Reads the credentials out of a token request (body or Basic auth). */
  readCredentials(req: IncomingMessage, body: string): [string, string] | undefined;
  tokenAnswer(token: string, creds: [string, string], lifetimeSeconds: number): unknown;
  badCredentials: unknown;
  scheme: string; // '' = raw token in Authorization
  ok(data: unknown): unknown;
  expired: unknown;
  missing: unknown;
}

function jwt(lifetimeSeconds: number): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ id: randomBytes(8).toString('hex'), iat: now, exp: now + lifetimeSeconds })}.${randomBytes(16).toString('base64url')}`;
}

function jsonCreds(a: string, b: string) {
  return (_req: IncomingMessage, body: string): [string, string] | undefined => {
    try {
      const o = JSON.parse(body) as Record<string, unknown>;
      return typeof o[a] === 'string' && typeof o[b] === 'string' ? [o[a] as string, o[b] as string] : undefined;
    } catch {
      return undefined;
    }
  };
}

const TRAITS: Record<VendorKind, VendorTraits> = {
  akool: {
    tokenPath: '/api/open/v3/getToken',
    credentialNames: ['clientId', 'clientSecret'],
    readCredentials: jsonCreds('clientId', 'clientSecret'),
    tokenAnswer: (token) => ({ code: 1000, token }),
    badCredentials: { code: 1101, msg: 'Invalid clientId or clientSecret' },
    scheme: 'Bearer',
    ok: (data) => ({ code: 1000, msg: 'OK', data }),
    expired: { code: 1101, msg: 'Invalid authorization or The request token has expired' },
    missing: { code: 1102, msg: 'Authorization cannot be empty' },
  },
  hitem3d: {
    tokenPath: '/open-api/v1/auth/token',
    credentialNames: ['clientId', 'clientSecret'],
    readCredentials: (req) => {
      const h = req.headers.authorization ?? '';
      if (!h.startsWith('Basic ')) return undefined;
      const dec = Buffer.from(h.slice(6), 'base64').toString('utf8');
      const i = dec.indexOf(':');
      return i < 0 ? undefined : [dec.slice(0, i), dec.slice(i + 1)];
    },
    tokenAnswer: (token) => ({ code: 200, message: 'success', data: { accessToken: token, tokenType: 'Bearer', nonce: `${Date.now()}hitem3d` } }),
    badCredentials: { code: 40010000, message: 'client credentials are invalid', data: {} },
    scheme: 'Bearer',
    ok: (data) => ({ code: 200, message: 'success', data }),
    expired: { code: 401, data: {}, msg: 'Unauthorized' },
    missing: { code: 401, data: {}, msg: 'Unauthorized' },
  },
  'baidu-aiob': {
    tokenPath: '/api/v2/getToken',
    credentialNames: ['accessKey', 'secretKey'],
    readCredentials: jsonCreds('accessKey', 'secretKey'),
    tokenAnswer: (token, [ak, sk], life) => ({
      time: Date.now(), code: 200, msg: 'OK',
      // The real answer echoes the secretKey: tokenrelay must never log it.
      data: { tenantId: 1001, accountId: 2002, accessToken: token, expiresTime: Math.round(life / 60), accessKey: ak, secretKey: sk },
    }),
    badCredentials: { time: Date.now(), code: 4001, msg: 'accessKey或secretKey错误', data: null },
    scheme: '',
    ok: (data) => ({ time: Date.now(), code: 200, msg: 'OK', data }),
    expired: { time: Date.now(), code: 401, msg: 'token失效', data: null },
    missing: { time: Date.now(), code: 401, msg: 'token不能为空', data: null },
  },
};

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  token: string | undefined;
  /** The account (client id) the token was issued to, when it is a valid token. */
  account?: string | undefined;
  /** Filled in once the body has been read (also for rejected tokens). */
  body?: { bytes: number; sha256: string };
}

export interface FakeVendorOptions {
  /** Token lifetime the fake issues (seconds). */
  lifetimeSeconds?: number;
  /** Signal a revoked token with a real HTTP 401 instead of the vendor's HTTP 200 body code. */
  expiredAsHttp401?: boolean;
  credentials?: [string, string];
  /** More accounts (id, secret) the vendor knows: tenants with their own. Tokens record whose they are. */
  accounts?: Array<[string, string]>;
  /** Serve HTTPS with this key and certificate. */
  tls?: { key: string; cert: string };
  /** Compression of JSON answers, as nginx's gzip (default `auto`: when the client asks). */
  compress?: CompressMode;
  /** How a WebSocket handshake with a bad token is refused: HTTP 401 (default), or HTTP 200 and the JSON body code. */
  wsExpired?: 'http401' | 'body';
}

export interface FakeVendor {
  kind: VendorKind;
  url: string;
  credentials: Record<string, string>;
  counts: { tokenFetches: number; requests: number; connections: number };
  issued: string[];
  seen: SeenRequest[];
  /** Every issued token stops working; new fetches work. */
  revokeAll(): void;
  /** The tokens of one account stop working; new fetches work. */
  revokeAccount(id: string): void;
  /** Token fetches per account id. */
  fetchesBy: Record<string, number>;
  rejectCredentials(on: boolean): void;
  /** Make the next `times` token fetches fail in the given way (Infinity: until cleared). */
  failTokens(mode: TokenFailure | null, times?: number): void;
  /** Make every `n`th token fetch fail in the given way (0: off). */
  failEvery(n: number, mode?: TokenFailure): void;
  tokenDelayMs: number;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<{ text: string; bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const small: Buffer[] = [];
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
      if (bytes <= 1024 * 1024) small.push(c);
    });
    req.on('end', () => resolve({ text: Buffer.concat(small).toString('utf8'), bytes, sha256: hash.digest('hex') }));
    req.on('error', reject);
  });
}


export async function startFakeVendor(kind: VendorKind, opts: FakeVendorOptions = {}): Promise<FakeVendor> {
  const t = TRAITS[kind];
  const lifetime = opts.lifetimeSeconds ?? (kind === 'akool' ? 400 * 86400 : kind === 'hitem3d' ? 86400 : 43200 * 60);
  const [id, secret] = opts.credentials ?? [`${kind}-id-${randomBytes(4).toString('hex')}`, `${kind}-SECRET-${randomBytes(12).toString('hex')}`];
  const valid = new Set<string>();
  /** Which account each issued token belongs to. */
  const owner = new Map<string, string>();
  const accounts = new Map<string, string>([[id, secret], ...(opts.accounts ?? [])]);
  const compress = opts.compress ?? 'auto';
  // Every JSON answer as a vendor behind nginx sends it: compressed when the client asks.
  const sendJson = (res: ServerResponse, status: number, body: unknown) => nginxJson(res.req, res, status, body, compress);
  let reject = false;
  let failure: { mode: TokenFailure; left: number } | null = null;
  let every: { n: number; mode: TokenFailure } | null = null;

  const fake: FakeVendor = {
    kind,
    url: '',
    credentials: { [t.credentialNames[0]]: id, [t.credentialNames[1]]: secret },
    counts: { tokenFetches: 0, requests: 0, connections: 0 },
    issued: [],
    seen: [],
    revokeAll: () => valid.clear(),
    revokeAccount: (acct) => {
      for (const [tok, who] of owner) if (who === acct) valid.delete(tok);
    },
    fetchesBy: {},
    rejectCredentials: (on) => void (reject = on),
    failTokens: (mode, times = Infinity) => void (failure = mode ? { mode, left: times } : null),
    failEvery: (n, mode = 'http500') => void (every = n ? { n, mode } : null),
    tokenDelayMs: 0,
    close: () => Promise.resolve(), // set once listening
  };

  async function token(req: IncomingMessage, res: ServerResponse) {
    fake.counts.tokenFetches++;
    const body = await readBody(req);
    if (fake.tokenDelayMs) await new Promise((r) => setTimeout(r, fake.tokenDelayMs));
    if (every && fake.counts.tokenFetches % every.n === 0 && !failure) failure = { mode: every.mode, left: 1 };
    if (failure && failure.left > 0) {
      failure.left--;
      const mode = failure.mode;
      if (failure.left <= 0) failure = null;
      if (mode === 'hang') return; // never answers
      if (mode === 'http500') return sendJson(res, 500, { code: 10000000, message: 'system error' });
      if (mode === 'html') {
        res.writeHead(502, { 'content-type': 'text/html' });
        return res.end('<html><body>Bad Gateway</body></html>');
      }
      if (mode === 'empty') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '0' });
        return res.end();
      }
      if (mode === 'garbled') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"code":200,"data":{"accessTok');
      }
      return sendJson(res, 200, t.badCredentials);
    }
    const creds = t.readCredentials(req, body.text);
    if (reject || !creds || accounts.get(creds[0]) !== creds[1]) return sendJson(res, 200, t.badCredentials);
    const tok = kind === 'baidu-aiob' ? randomBytes(24).toString('hex') : jwt(lifetime);
    valid.add(tok);
    owner.set(tok, creds[0]);
    fake.fetchesBy[creds[0]] = (fake.fetchesBy[creds[0]] ?? 0) + 1;
    fake.issued.push(tok);
    sendJson(res, 200, t.tokenAnswer(tok, creds, lifetime));
  }

  async function api(req: IncomingMessage, res: ServerResponse) {
    fake.counts.requests++;
    const auth = req.headers.authorization;
    const tok = auth === undefined ? undefined : t.scheme ? (auth.startsWith(`${t.scheme} `) ? auth.slice(t.scheme.length + 1) : undefined) : auth;
    const entry: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, token: tok, account: tok && valid.has(tok) ? owner.get(tok) : undefined };
    fake.seen.push(entry);
    const u = new URL(req.url ?? '/', 'http://fake');
    const read = async () => {
      const b = await readBody(req);
      entry.body = { bytes: b.bytes, sha256: b.sha256 };
      return b;
    };
    // An early answer, before the body is read (as nginx's 413, or a vendor that checks the
    // token first): the expired-token answer for a bad token, else 413.
    if (u.pathname.startsWith('/__early')) {
      if (!tok || !valid.has(tok)) return sendJson(res, opts.expiredAsHttp401 ? 401 : 200, t.expired);
      return sendJson(res, 413, { code: 413, msg: 'Request Entity Too Large' });
    }
    // Reads part of the body, then drops the connection (an upstream failing mid-upload).
    if (u.pathname === '/__reset') {
      req.once('data', () => req.socket.destroy());
      return;
    }
    if (auth === undefined) {
      await read();
      return sendJson(res, 200, t.missing);
    }
    if (!tok || !valid.has(tok)) {
      await read();
      return opts.expiredAsHttp401 ? sendJson(res, 401, t.expired) : sendJson(res, 200, t.expired);
    }
    if (u.pathname === '/__t/early' || u.pathname === '/__t/echo') return scenario(req, res);
    // The vendor's own rate limit: 429 with Retry-After (seconds), as nginx's limit_req or an API gateway sends.
    if (u.pathname === '/__429') {
      await read();
      res.setHeader('retry-after', u.searchParams.get('retry') ?? '1');
      return sendJson(res, 429, { code: 429, msg: 'Too Many Requests' });
    }
    if (u.pathname.startsWith('/__t/')) return void (await read(), scenario(req, res));
    if (u.pathname === '/__sse') return sse(res, Number(u.searchParams.get('events') ?? 3), Number(u.searchParams.get('interval') ?? 100));
    if (u.pathname === '/__download') return download(res, Number(u.searchParams.get('bytes') ?? 1024));
    if (u.pathname === '/__slow') await new Promise((r) => setTimeout(r, Number(u.searchParams.get('ms') ?? 1000)));
    const body = await read();
    sendJson(res, 200, t.ok({ method: req.method, url: req.url, headers: req.headers, bodyBytes: body.bytes, sha256: body.sha256 }));
  }

  function sse(res: ServerResponse, events: number, interval: number) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let i = 0;
    const timer = setInterval(() => {
      res.write(`id: ${i}\nevent: progress\ndata: {"step":${i}}\n\n`);
      if (++i >= events) {
        clearInterval(timer);
        res.end();
      }
    }, interval);
    res.on('close', () => clearInterval(timer));
  }

  function download(res: ServerResponse, bytes: number) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes });
    const chunk = Buffer.alloc(64 * 1024, 7);
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  }

  const listener: RequestListener = (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    // Controls for `npm run demo` (no token needed): revoke every token, or read the counters.
    if (path === '/__fake/revoke' && req.method === 'POST') {
      fake.revokeAll();
      return sendJson(res, 200, { revoked: true });
    }
    if (path === '/__fake/stats') return sendJson(res, 200, fake.counts);
    const run = req.method === 'POST' && path === t.tokenPath ? token(req, res) : api(req, res);
    run.catch(() => res.destroy());
  };
  const server: Server = opts.tls ? createTlsServer(opts.tls, listener) : createServer(listener);
  server.on(opts.tls ? 'secureConnection' : 'connection', () => void fake.counts.connections++);
  // WebSockets: the upgrade must carry a valid token, like any call; then messages are echoed.
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const auth = req.headers.authorization;
    const tok = auth === undefined ? undefined : t.scheme ? (auth.startsWith(`${t.scheme} `) ? auth.slice(t.scheme.length + 1) : undefined) : auth;
    fake.seen.push({ method: 'UPGRADE', url: req.url ?? '', headers: req.headers, token: tok });
    if (!tok || !valid.has(tok)) {
      if (opts.wsExpired !== 'body') {
        socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
        return;
      }
      // The vendor's envelope, compressed as nginx would for a client that asks.
      const codings = codingsFor(req, compress);
      const body = encode(Buffer.from(JSON.stringify(t.expired)), codings);
      const ce = codings.length ? `content-encoding: ${codings.join(', ')}\r\n` : '';
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n${ce}content-length: ${body.length}\r\nconnection: close\r\n\r\n`);
      socket.end(body);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m, isBinary) => ws.send(isBinary ? m : `echo:${String(m)}`)));
  });
  const listening = await listenLoopback(server, opts.tls ? 'https' : 'http');
  fake.url = listening.url;
  fake.close = () => {
    for (const c of wss.clients) c.terminate();
    return listening.close();
  };
  return fake;
}
