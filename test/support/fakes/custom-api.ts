/**
 * A fake API with its own token scheme, for `type: custom`: a session endpoint taking a JSON
 * key/secret and a tenant header, sessions in `X-Session: sess <token>`, expiry signalled by an
 * HTTP 200 body `{"status":"error","errcode":"E_SESSION"}`; and a fixed-key area for `type: static`.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { listenLoopback } from './listen.js';

export async function startFakeCustomApi() {
  const key = `key-${randomBytes(4).toString('hex')}`;
  const secret = `secret-${randomBytes(8).toString('hex')}`;
  const apiKey = `static-${randomBytes(8).toString('hex')}`;
  const valid = new Set<string>();
  const fake = {
    url: '', key, secret, apiKey, tenant: 'acme', sessions: 0, issued: [] as string[], seen: [] as Array<Record<string, string | string[] | undefined>>,
    revokeAll: () => valid.clear(),
    close: (): Promise<void> => Promise.resolve(), // set once listening
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const send = (o: unknown, status = 200) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(o));
      };
      if (req.method === 'POST' && req.url === '/v1/session') {
        fake.sessions++;
        const b = JSON.parse(body || '{}') as { key?: string; secret?: string };
        if (b.key !== key || b.secret !== secret || req.headers['x-tenant'] !== fake.tenant) return send({ status: 'error', errcode: 'E_AUTH', message: 'bad key or secret' });
        const tok = randomBytes(12).toString('hex');
        valid.add(tok);
        fake.issued.push(tok);
        return send({ status: 'ok', result: { session: tok, ttl_ms: 600_000 } });
      }
      fake.seen.push(req.headers);
      if (req.url?.startsWith('/static/')) return req.headers['x-api-key'] === apiKey ? send({ status: 'ok' }) : send({ status: 'error', errcode: 'E_KEY' }, 403);
      const h = req.headers['x-session'];
      const tok = typeof h === 'string' && h.startsWith('sess ') ? h.slice(5) : undefined;
      if (!tok || !valid.has(tok)) return send({ status: 'error', errcode: 'E_SESSION', message: 'session expired' });
      send({ status: 'ok', result: { url: req.url } });
    });
  });
  Object.assign(fake, await listenLoopback(server));
  return fake;
}
