/**
 * The clients people really use, each as `run(requests) → answers`: undici's fetch, node:http,
 * curl and Python requests. Each frames and negotiates its own way (fetch and requests ask for
 * compression and decode it; curl --compressed too; node:http gets the raw bytes), which is
 * exactly what the transparency suite must see through tokenrelay as it sees directly.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Req {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Send the body slowly: in four parts, 50 ms apart (curl: at a limited rate). */
  slow?: boolean;
}

const PARTS = 4;
const GAP_MS = 50;
const parts = (b: Buffer) => Array.from({ length: PARTS }, (_, i) => b.subarray(Math.floor((i * b.length) / PARTS), Math.floor(((i + 1) * b.length) / PARTS)));
const pause = () => new Promise((r) => setTimeout(r, GAP_MS));

export interface Answer {
  status: number;
  /** Lowercase names, in order, repeats kept. */
  headers: Array<[string, string]>;
  body: Buffer;
}

export interface Client {
  name: string;
  run(reqs: Req[]): Promise<Answer[]>;
}

const lower = (pairs: Array<[string, string]>): Array<[string, string]> => pairs.map(([k, v]) => [k.toLowerCase(), v]);

/** undici fetch (Node's global fetch): asks for gzip, deflate, br; follows no redirect. */
export const fetchClient: Client = {
  name: 'undici fetch',
  async run(reqs) {
    const out: Answer[] = [];
    for (const r of reqs) {
      let body: BodyInit | undefined = r.body ? new Uint8Array(r.body) : undefined;
      if (r.body && r.slow) {
        const chunks = parts(r.body);
        body = new ReadableStream({
          async pull(c) {
            const next = chunks.shift();
            if (!next) return c.close();
            await pause();
            c.enqueue(new Uint8Array(next));
          },
        });
      }
      const res = await fetch(r.url, { method: r.method, headers: r.headers, redirect: 'manual', ...(body ? { body, duplex: 'half' } : {}) } as RequestInit);
      const headers: Array<[string, string]> = [];
      for (const [k, v] of res.headers) if (k !== 'set-cookie') headers.push([k, v]);
      for (const c of res.headers.getSetCookie()) headers.push(['set-cookie', c]);
      out.push({ status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) });
    }
    return out;
  },
};

/** node:http: raw bytes, repeats as sent; asks for compression explicitly, decodes nothing. */
export const nodeHttpClient: Client = {
  name: 'node:http',
  async run(reqs) {
    const out: Answer[] = [];
    for (const r of reqs) {
      out.push(await new Promise<Answer>((resolve, reject) => {
        const length = r.body ? { 'content-length': String(r.body.length) } : {};
        const q = httpRequest(r.url, { method: r.method, headers: { 'accept-encoding': 'gzip, deflate, br', ...length, ...r.headers }, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const raw = res.rawHeaders;
            const headers: Array<[string, string]> = [];
            for (let i = 0; i < raw.length; i += 2) headers.push([raw[i]!, raw[i + 1]!]);
            resolve({ status: res.statusCode!, headers: lower(headers), body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
        });
        q.on('error', reject);
        if (!r.body || !r.slow) return void q.end(r.body);
        void (async () => {
          for (const c of parts(r.body!)) {
            await pause();
            q.write(c);
          }
          q.end();
        })();
      }));
    }
    return out;
  },
};

/** curl --compressed: one process a request, headers from -D (the final head after any 1xx). */
export const curlClient: Client = {
  name: 'curl',
  async run(reqs) {
    const dir = mkdtempSync(join(tmpdir(), 'tr-curl-'));
    try {
      const out: Answer[] = [];
      for (const [i, r] of reqs.entries()) {
        const hdr = join(dir, `${i}.h`);
        const body = join(dir, `${i}.b`);
        const args = ['-sS', '--compressed', '-D', hdr, '-o', body, '-w', '%{http_code}', '--max-time', '20'];
        args.push(...(r.method === 'HEAD' ? ['--head'] : ['-X', r.method]));
        for (const [k, v] of Object.entries(r.headers)) args.push('-H', `${k}: ${v}`);
        if (r.body) {
          writeFileSync(join(dir, `${i}.in`), r.body);
          args.push('--data-binary', `@${join(dir, `${i}.in`)}`);
          // About the same pace as the other clients' four parts, 50 ms apart.
          if (r.slow) args.push('--limit-rate', String(Math.max(1024, Math.ceil((r.body.length * 1000) / (PARTS * GAP_MS)))));
        }
        args.push(r.url);
        const status = await new Promise<number>((resolve, reject) => {
          execFile('curl', args, (err, stdout) => (err ? reject(err) : resolve(Number(stdout))));
        });
        const blocks = readFileSync(hdr, 'latin1').split(/\r\n\r\n/).filter((b) => b.startsWith('HTTP/'));
        const last = blocks.at(-1)!.split('\r\n').slice(1);
        const headers = last.filter(Boolean).map((l): [string, string] => {
          const c = l.indexOf(':');
          return [l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim()];
        });
        let b: Buffer;
        try {
          // --head writes the head where the body would go: a HEAD answer has no body.
          b = r.method === 'HEAD' ? Buffer.alloc(0) : readFileSync(body);
        } catch {
          b = Buffer.alloc(0); // no body at all: curl writes no file
        }
        out.push({ status, headers, body: b });
      }
      return out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Python requests (Debian's python3-requests), the whole table in one process. */
export const pythonRequestsClient: Client = {
  name: 'python requests',
  run(reqs) {
    const input = JSON.stringify(reqs.map((r) => ({ ...r, body: r.body ? r.body.toString('base64') : null, slow: r.slow ?? false })));
    return new Promise((resolve, reject) => {
      // Debian's python3 is where python3-requests installs (.ci/run installs it).
      const p = spawn('/usr/bin/python3', [join(import.meta.dirname, 'requests_client.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d));
      p.stderr.on('data', (d: Buffer) => (stderr += d));
      p.on('error', reject);
      p.on('close', (code) => {
        if (code !== 0) return reject(new Error(`python requests client failed (${code}): ${stderr}`));
        const rows = JSON.parse(stdout) as Array<{ status: number; headers: Array<[string, string]>; body: string }>;
        resolve(rows.map((r) => ({ status: r.status, headers: lower(r.headers), body: Buffer.from(r.body, 'base64') })));
      });
      // A client that dies before reading its input (no module named requests, say) fails the
      // row through 'close' above; the EPIPE on its stdin must not escape as an unhandled error.
      p.stdin.on('error', () => {});
      p.stdin.end(input);
    });
  },
};

export const CLIENTS: Client[] = [fetchClient, nodeHttpClient, curlClient, pythonRequestsClient];
