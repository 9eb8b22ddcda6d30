// Servers for the benchmark, one role per process: `node bench/roles.mjs ROLE [TARGET]`.
// Each listens on port 0 and prints `READY <port>`. Plain JS so no loader skews the figures.
import { createServer, Agent as HttpAgent } from 'node:http';

const [role, target] = process.argv.slice(2);
const FIXED = 'bench-token'; // what the plain pass-throughs send; always accepted
const ANSWER = Buffer.from(JSON.stringify({ code: 1000, msg: 'OK', data: { id: 'x'.repeat(140), ok: true } }));
const EXPIRED = Buffer.from(JSON.stringify({ code: 1101, msg: 'Invalid authorization or The request token has expired' }));

function ready(server) {
  server.listen(0, '127.0.0.1', () => process.stdout.write(`READY ${server.address().port}\n`));
}

if (role === 'upstream') {
  // A fast Akool-shaped upstream: a token endpoint, 200-byte JSON answers, expired-token
  // answers (code 1101) for revoked tokens, a download and an upload sink, and counters.
  const chunk = Buffer.alloc(64 * 1024, 7);
  let generation = 0;
  let tokenFetches = 0;
  let tokenDelayMs = 0;
  const valid = new Set([FIXED]);
  ready(createServer((req, res) => {
    const url = req.url;
    if (url === '/api/open/v3/getToken') {
      tokenFetches++;
      req.resume();
      return req.on('end', () => setTimeout(() => {
        const token = `t${++generation}`;
        valid.add(token);
        res.end(JSON.stringify({ code: 1000, token }));
      }, tokenDelayMs));
    }
    if (url === '/__stats') return res.end(JSON.stringify({ tokenFetches }));
    if (url.startsWith('/__delay')) {
      tokenDelayMs = Number(url.split('=')[1] ?? 0);
      return res.end('{}');
    }
    if (url === '/__revoke') {
      valid.clear();
      valid.add(FIXED);
      return res.end('{}');
    }
    const auth = req.headers.authorization ?? '';
    if (!valid.has(auth.slice(7))) {
      req.resume();
      return req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': EXPIRED.length });
        res.end(EXPIRED);
      });
    }
    if (url.startsWith('/download')) {
      let left = Number(new URL(url, 'http://x').searchParams.get('bytes'));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    let bytes = 0;
    req.on('data', (d) => (bytes += d.length));
    req.on('end', () => {
      const body = url.startsWith('/upload') ? Buffer.from(JSON.stringify({ code: 1000, bytes })) : ANSWER;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  }));
} else if (role === 'undici') {
  // The Node limit: a minimal undici pass-through with a fixed Authorization.
  const { Pool } = await import('undici');
  const pool = new Pool(target, { keepAliveTimeout: 30_000 });
  ready(createServer(async (req, res) => {
    try {
      const headers = { ...req.headers, authorization: `Bearer ${FIXED}` };
      delete headers.host;
      delete headers.connection;
      delete headers['keep-alive'];
      delete headers['transfer-encoding'];
      const hasBody = req.headers['content-length'] || req.headers['transfer-encoding'];
      const up = await pool.request({ path: req.url, method: req.method, headers, body: hasBody ? req : undefined });
      res.writeHead(up.statusCode, up.headers);
      up.body.on('error', () => res.destroy());
      up.body.pipe(res);
    } catch {
      res.statusCode = 502;
      res.end();
    }
  }));
} else if (role === 'http-proxy') {
  // What many would write: http-proxy with a keep-alive agent and a fixed Authorization.
  const { default: httpProxy } = await import('http-proxy');
  // The token goes in through `headers` (set when the upstream request is made): a 'proxyReq'
  // handler's setHeader throws once requests queue for the agent's sockets (1,000 connections).
  const proxy = httpProxy.createProxyServer({
    target, agent: new HttpAgent({ keepAlive: true, maxSockets: 256 }), xfwd: true, headers: { authorization: `Bearer ${FIXED}` },
  });
  proxy.on('error', (_e, _req, res) => {
    res.statusCode = 502;
    res.end();
  });
  ready(createServer((req, res) => proxy.web(req, res)));
} else if (role === 'collector') {
  // An OpenTelemetry collector's OTLP/HTTP endpoint that takes every export and keeps nothing.
  ready(createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('{}'));
  }));
} else {
  process.stderr.write(`unknown role ${role}\n`);
  process.exit(2);
}
