// Servers for the benchmark, one role per process: `node bench/roles.mjs ROLE [TARGET]`.
// Each listens on port 0 and prints `READY <port>`. Plain JS so no loader skews the figures.
import { createServer, Agent as HttpAgent } from 'node:http';

const [role, target] = process.argv.slice(2);
const TOKEN = 'bench-token';
const ANSWER = Buffer.from(JSON.stringify({ code: 1000, msg: 'OK', data: { id: 'x'.repeat(140), ok: true } }));

function ready(server) {
  server.listen(0, '127.0.0.1', () => process.stdout.write(`READY ${server.address().port}\n`));
}

if (role === 'upstream') {
  const chunk = Buffer.alloc(64 * 1024, 7);
  ready(createServer((req, res) => {
    if (req.url === '/api/open/v3/getToken') {
      req.resume();
      return req.on('end', () => res.end(JSON.stringify({ code: 1000, token: TOKEN })));
    }
    if (req.url.startsWith('/download')) {
      let left = Number(new URL(req.url, 'http://x').searchParams.get('bytes'));
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
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': ANSWER.length });
      res.end(ANSWER);
    });
  }));
} else if (role === 'undici') {
  const { Pool } = await import('undici');
  const pool = new Pool(target, { keepAliveTimeout: 30_000 });
  ready(createServer(async (req, res) => {
    try {
      const headers = { ...req.headers, authorization: `Bearer ${TOKEN}` };
      delete headers.host;
      delete headers.connection;
      const up = await pool.request({ path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req });
      res.writeHead(up.statusCode, up.headers);
      up.body.on('error', () => res.destroy());
      up.body.pipe(res);
    } catch {
      res.statusCode = 502;
      res.end();
    }
  }));
} else if (role === 'http-proxy') {
  const { default: httpProxy } = await import('http-proxy');
  const proxy = httpProxy.createProxyServer({ target, agent: new HttpAgent({ keepAlive: true, maxSockets: 256 }), xfwd: true });
  proxy.on('proxyReq', (p) => p.setHeader('authorization', `Bearer ${TOKEN}`));
  proxy.on('error', (_e, _req, res) => { res.statusCode = 502; res.end(); });
  ready(createServer((req, res) => proxy.web(req, res)));
} else {
  process.stderr.write(`unknown role ${role}\n`);
  process.exit(2);
}
