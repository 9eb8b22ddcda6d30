/**
 * What a real vendor looks like behind nginx or a CDN, for every fake: JSON compressed when the
 * client asks (gzip, br or deflate; nginx drops Content-Length and sends it chunked), HEAD
 * answered without a body, 204/304 without one, and a table of canned answers (`/__t/...`) for
 * the transparency suite: every status, header and body shape a vendor can send.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';

export type Coding = 'gzip' | 'x-gzip' | 'deflate' | 'br';
/** `auto`: the first of br, gzip, deflate the client accepts (nginx with the brotli module); `off`: never. */
export type CompressMode = 'auto' | 'off' | Coding | Coding[];

const CODERS: Record<Coding, (b: Buffer) => Buffer> = { gzip: gzipSync, 'x-gzip': gzipSync, deflate: deflateSync, br: brotliCompressSync };
const COMPRESSIBLE = /^(application\/(?:[\w.+-]*\+)?json|text\/)/i;

function accepts(req: IncomingMessage, coding: string): boolean {
  const ae = String(req.headers['accept-encoding'] ?? '').toLowerCase();
  const base = coding === 'x-gzip' ? 'gzip' : coding;
  return ae.split(',').some((p) => {
    const [name, ...params] = p.trim().split(';');
    return name?.trim() === base && !params.some((q) => /^\s*q=0(\.0*)?\s*$/.test(q));
  });
}

/** The codings to apply, in order, for this client and mode (empty: send as it is). */
export function codingsFor(req: IncomingMessage, mode: CompressMode): Coding[] {
  if (mode === 'off') return [];
  if (mode === 'auto') {
    const c = (['br', 'gzip', 'deflate'] as const).find((x) => accepts(req, x));
    return c ? [c] : [];
  }
  const chain = Array.isArray(mode) ? mode : [mode];
  // As nginx: compress only for a client that accepts it (a chain: that accepts each).
  return chain.every((c) => accepts(req, c)) ? chain : [];
}

export function encode(body: Buffer, codings: readonly Coding[]): Buffer {
  let out = body;
  for (const c of codings) out = CODERS[c](out);
  return out;
}

/** Sends a body the way nginx would: compressed when asked and worth it, chunked then. */
export function send(req: IncomingMessage, res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer | string | undefined, mode: CompressMode = 'auto'): void {
  const buf = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const out: OutgoingHttpHeaders = { ...headers };
  if (status === 204 || status === 304 || buf === undefined) {
    res.writeHead(status, out);
    return void res.end();
  }
  const codings = COMPRESSIBLE.test(String(out['content-type'] ?? '')) ? codingsFor(req, mode) : [];
  if (codings.length) {
    const packed = encode(buf, codings);
    out['content-encoding'] = codings.join(', ');
    out.vary = 'Accept-Encoding';
    delete out['content-length'];
    res.writeHead(status, out);
    // HEAD: Node sends the head alone.
    return void res.end(packed);
  }
  out['content-length'] ??= buf.length;
  res.writeHead(status, out);
  res.end(buf);
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, mode: CompressMode = 'auto', headers: OutgoingHttpHeaders = {}): void {
  send(req, res, status, { 'content-type': 'application/json; charset=utf-8', ...headers }, JSON.stringify(body), mode);
}

const REASON_HEADERS: Record<number, OutgoingHttpHeaders> = {
  201: { location: '/__t/created/42' },
  202: { location: '/__t/jobs/7', 'retry-after': '3' },
  301: { location: '/__t/moved' }, 302: { location: '/__t/found' }, 307: { location: '/__t/temp' }, 308: { location: '/__t/perm' },
  401: { 'www-authenticate': 'Bearer realm="fake", error="invalid_request", error_description="malformed"' },
  403: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="admin"' },
  413: { connection: 'close' },
  429: { 'retry-after': '7' },
  503: { 'retry-after': '120' },
};

/**
 * Canned answers: `/__t/status/<code>`, `/__t/body/<kind>` (none, empty, json, large-json,
 * chunked, sse, binary, gzip, br, deflate), `/__t/method` (echoes the method), `/__t/range`
 * (206 with Range), `/__t/etag` (304 with If-None-Match). Every answer carries two cookies,
 * a Vary, an ETag and a Cache-Control, so header transparency shows on each.
 */
export function scenario(req: IncomingMessage, res: ServerResponse, inspectBytes = 64 * 1024): void {
  const url = new URL(req.url ?? '/', 'http://fake');
  const [, , kind, arg] = url.pathname.split('/');
  const common: OutgoingHttpHeaders = {
    'set-cookie': ['a=1; Path=/; HttpOnly', 'b=2; Path=/; Secure'],
    'cache-control': 'private, max-age=60',
    'x-vendor-trace': 'abc123',
  };
  const json = (status: number, body: unknown, extra: OutgoingHttpHeaders = {}, mode: CompressMode = 'auto') => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const etag = `"${createHash('sha1').update(text ?? '').digest('hex').slice(0, 16)}"`;
    send(req, res, status, { ...common, etag, 'content-type': 'application/json; charset=utf-8', ...extra }, text, mode);
  };
  if (kind === 'status') {
    const status = Number(arg);
    const body = status >= 400 ? { code: status, msg: `error ${status}` } : { code: 1000, msg: 'OK', data: { status } };
    return json(status, status === 204 ? undefined : body, REASON_HEADERS[status] ?? {});
  }
  if (kind === 'method') return json(200, { code: 1000, data: { method: req.method } });
  // An early answer: 413 before the body is read (Node then reads and drops the rest, as nginx does).
  if (kind === 'early') return json(413, { code: 413, msg: 'Request Entity Too Large' });
  // The body read whole first: its size and digest come back (a slow client must arrive intact).
  if (kind === 'echo') {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => {
      h.update(c);
      n += c.length;
    });
    return void req.on('end', () => json(200, { code: 1000, data: { bytes: n, sha256: h.digest('hex') } }));
  }
  if (kind === 'etag') {
    const etag = '"v1-etag"';
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { ...common, etag });
      return void res.end();
    }
    return json(200, { code: 1000, data: 'fresh' }, { etag });
  }
  if (kind === 'range') {
    const data = Buffer.alloc(1000, 'r');
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    if (!m) return send(req, res, 200, { ...common, 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' }, data, 'off');
    const [from, to] = [Number(m[1]), Math.min(Number(m[2]), data.length - 1)];
    return send(req, res, 206, { ...common, 'content-type': 'application/octet-stream', 'content-range': `bytes ${from}-${to}/${data.length}` }, data.subarray(from, to + 1), 'off');
  }
  switch (arg) {
    case 'none':
      res.writeHead(200, { ...common });
      return void res.end();
    case 'empty':
      return send(req, res, 200, { ...common, 'content-type': 'application/json', 'content-length': 0 }, Buffer.alloc(0), 'off');
    case 'json':
      return json(200, { code: 1000, msg: 'OK', data: { items: [1, 2, 3] } });
    case 'large-json':
      return json(200, { code: 1000, msg: 'OK', data: 'x'.repeat(inspectBytes + 1000) }, {}, 'off');
    case 'chunked': {
      res.writeHead(200, { ...common, 'content-type': 'application/json' });
      res.write('{"code":1000,');
      return void setTimeout(() => res.end('"data":"chunked"}'), 5);
    }
    case 'sse': {
      res.writeHead(200, { ...common, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      const t = setInterval(() => {
        res.write(`id: ${i}\ndata: {"step":${i}}\n\n`);
        if (++i === 3) {
          clearInterval(t);
          res.end();
        }
      }, 5);
      return void res.on('close', () => clearInterval(t));
    }
    case 'binary':
      return send(req, res, 200, { ...common, 'content-type': 'application/octet-stream' }, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256)), 'off');
    case 'gzip': case 'br': case 'deflate':
      return json(200, { code: 1000, msg: 'OK', data: { coding: arg } }, {}, arg);
    default:
      return json(404, { code: 404, msg: 'no such scenario' });
  }
}
