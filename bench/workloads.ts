/**
 * The benchmark's workloads, each run the same way on every server: autocannon loads (GET,
 * POSTs of several sizes, many connections), 300 MB streams, a burst of 1,000 requests on a
 * cold or revoked token, and a token revoked in the middle of an upload load.
 */
import autocannon from 'autocannon';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { cpuSeconds, resetPeak, rss, type Server } from './servers.js';

const MB = 1e6;

export interface Load { rps: number; p50: number; p99: number; errors: number; cpuUs: number }

export interface LoadOptions { method?: string; body?: Buffer; headers?: Record<string, string>; connections: number; expectBody?: string }

export async function load(s: Server, path: string, duration: number, opts: LoadOptions): Promise<Load> {
  const cpu0 = cpuSeconds(s.proc.pid!);
  const r = await autocannon({
    url: `http://127.0.0.1:${s.port}${s.prefix}${path}`, connections: opts.connections, duration, pipelining: 1,
    ...(opts.method ? { method: opts.method as 'POST' } : {}), ...(opts.body ? { body: opts.body } : {}),
    ...(opts.headers || s.headers ? { headers: { ...s.headers, ...opts.headers } } : {}), ...(opts.expectBody ? { expectBody: opts.expectBody } : {}),
  });
  const cpuUs = ((cpuSeconds(s.proc.pid!) - cpu0) * 1e6) / Math.max(1, r.requests.total);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts + (r.mismatches ?? 0), cpuUs };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A multipart/form-data upload of `bytes` of file data, as Hitem3D takes images and meshes. */
export function multipart(bytes: number): { body: Buffer; headers: Record<string, string> } {
  const boundary = '----tokenrelay-bench';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="request_type"\r\n\r\n1\r\n--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, Buffer.alloc(bytes, 7), tail]), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export interface PostWorkload { label: string; connections: number; body: Buffer; headers?: Record<string, string> }

export const POSTS: PostWorkload[] = [
  { label: '1 KiB', connections: 50, body: Buffer.alloc(1024, 120) },
  { label: '64 KiB', connections: 50, body: Buffer.alloc(64 * 1024, 120) },
  { label: '1 MiB', connections: 16, body: Buffer.alloc(1024 * 1024, 120) },
  { label: '8 MiB multipart', connections: 4, ...multipart(8 * 1024 * 1024) },
];

/**
 * Interleaved rounds of one workload over the servers: per server, one Load per round. The
 * order turns each round (A B C, B C A, C A B), so no server always follows the same one or
 * always comes first after a pause.
 */
export async function rounds(servers: Server[], n: number, run: (s: Server) => Promise<Load>): Promise<Map<string, Load[]>> {
  const out = new Map<string, Load[]>(servers.map((s) => [s.name, []]));
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < servers.length; i++) {
      const s = servers[(i + r) % servers.length]!;
      out.get(s.name)!.push(await run(s));
    }
  }
  return out;
}

/** Median over rounds of tokenrelay's figure ÷ the best pass-through's in the same round. */
export function vsBest(runs: Map<string, Load[]>, f: (x: Load) => number, higherIsBetter = true): number {
  const tr = runs.get('tokenrelay')!;
  return median(tr.map((x, i) => {
    const peers = ['undici pass-through', 'http-proxy pass-through'].map((n) => f(runs.get(n)![i]!));
    const best = higherIsBetter ? Math.max(...peers) : Math.min(...peers);
    return f(x) / best;
  }));
}

const upstreamGet = async (port: number, path: string) => (await (await request(`http://127.0.0.1:${port}${path}`)).body.json()) as { tokenFetches: number };

/** 1000 requests at once; how many token fetches the upstream saw, how long until all were answered. */
export async function burst(tr: Server, upstreamPort: number, n = 1000) {
  const agent = new Agent({ connections: n, pipelining: 0 });
  const before = (await upstreamGet(upstreamPort, '/__stats')).tokenFetches;
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: n }, async () => {
    try {
      const r = await request(`http://127.0.0.1:${tr.port}/akool/api/open/v3/voice/list`, { dispatcher: agent });
      const j = (await r.body.json()) as { code?: number };
      return r.statusCode === 200 && j.code === 1000;
    } catch {
      return false;
    }
  }));
  const ms = performance.now() - t0;
  await agent.close();
  return { fetches: (await upstreamGet(upstreamPort, '/__stats')).tokenFetches - before, ms, errors: results.filter((x) => !x).length };
}

export async function stream(s: Server, kind: 'download' | 'upload', bytes = 300 * MB) {
  // The peak an earlier workload left would read as this one's growth.
  resetPeak(s.proc.pid!);
  const before = rss(s.proc.pid!).rss;
  const cpu0 = cpuSeconds(s.proc.pid!);
  const t0 = performance.now();
  if (kind === 'download') {
    const r = await request(`http://127.0.0.1:${s.port}${s.prefix}/download?bytes=${bytes}`);
    let got = 0;
    for await (const c of r.body) got += (c as Buffer).length;
    // A short or failed answer would read as a fast one.
    if (r.statusCode !== 200 || got !== bytes) throw new Error(`${s.name}: download answered ${r.statusCode} with ${got} of ${bytes} bytes`);
  } else {
    const chunk = Buffer.alloc(1 << 20, 1);
    let sent = 0;
    const body = new Readable({ read() { this.push(sent >= bytes ? null : (sent += chunk.length, chunk)); } });
    const r = await request(`http://127.0.0.1:${s.port}${s.prefix}/upload`, { method: 'POST', body });
    const j = (await r.body.json()) as { bytes?: number };
    if (r.statusCode !== 200 || j.bytes !== sent) throw new Error(`${s.name}: upload answered ${r.statusCode} ${JSON.stringify(j)}`);
  }
  const secs = (performance.now() - t0) / 1000;
  // The server's own CPU time per MB: on a shared core, throughput also pays for its neighbours.
  return { mbps: bytes / MB / secs, growth: rss(s.proc.pid!).peak - before, cpuMsPerMB: ((cpuSeconds(s.proc.pid!) - cpu0) * 1000) / (bytes / MB) };
}

/**
 * 50 connections POSTing 1 MiB; every token is revoked at the upstream after seconds 3, 6, 9, …
 * (`refreshes` times), after a warm-up load of `warmup` s (a fresh process runs its first
 * seconds JIT-cold, which read as a dip of their own). A request is failed unless it is answered
 * the upstream's success (an expired-token answer passed on counts as failed). Each refresh's
 * ratio: requests/s in the second after that revocation ÷ the median of the seconds no
 * revocation touched (not the first, not the last, partial one). One second on this shared VM
 * drifts by ±25 %, so one refresh read 0.47–1.13× for the same build: three give a median.
 */
export async function refreshUnderLoad(tr: Server, target: string, refreshes: number, warmup: number) {
  const n = 1024 * 1024;
  const opts = { connections: 50, method: 'POST', body: Buffer.alloc(n, 120), expectBody: JSON.stringify({ code: 1000, bytes: n }) };
  const warm = warmup > 0 ? (await load(tr, '/upload', warmup, opts)).errors : 0;
  const gap = 3;
  const duration = gap * (refreshes + 1);
  const perSecond: number[] = [];
  const revokedAfter: number[] = [];
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url: `http://127.0.0.1:${tr.port}${tr.prefix}/upload`, duration, ...opts, method: 'POST' },
      (err, res) => (err ? reject(err) : resolve(res)));
    // `tick` (once a second, with that second's request count) is missing from the typings.
    (instance as unknown as NodeJS.EventEmitter).on('tick', ({ counter }: { counter: number }) => {
      perSecond.push(counter);
      if (perSecond.length % gap === 0 && revokedAfter.length < refreshes) {
        revokedAfter.push(perSecond.length);
        void request(`${target}/__revoke`).then((x) => x.body.text());
      }
    });
  });
  // Seconds 1 … duration-1 that follow no revocation are the baseline.
  const touched = new Set(revokedAfter);
  const baseline = median(perSecond.filter((_, i) => i > 0 && i < duration && !touched.has(i)));
  const ratios = revokedAfter.map((i) => (baseline ? (perSecond[i] ?? 0) / baseline : 0));
  return { errors: warm + r.errors + r.non2xx + r.timeouts + (r.mismatches ?? 0), ratios, ratio: ratios.length ? median(ratios) : 0, total: r.requests.total };
}

/**
 * Two servers loaded at the same time on the shared core (as `bench:pair`): their requests/s
 * split by what a request costs each, under the very same conditions. For comparing variants of
 * tokenrelay, where sequential rounds drift by more than the difference. Per round, a's ÷ b's.
 * The warm-up lasts two rounds: with tracing on, the first ~10 s ran at 0.63–0.83x and then held
 * at 0.87–0.93x, while V8 compiled the SDK's and the exporter's paths (a 2-second warm-up
 * counted that as the first round).
 */
export async function paired(a: Server, b: Server, path: string, rounds: number, duration: number, connections = 25): Promise<number[]> {
  const total = async (s: Server, d: number) => (await autocannon({
    url: `http://127.0.0.1:${s.port}${s.prefix}${path}`, connections, duration: d, ...(s.headers ? { headers: s.headers } : {}),
  })).requests.total;
  await Promise.all([total(a, 2 * duration), total(b, 2 * duration)]);
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [na, nb] = await Promise.all([total(a, duration), total(b, duration)]);
    ratios.push(na / nb);
  }
  return ratios;
}
