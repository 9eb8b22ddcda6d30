/**
 * `npm run bench:pair -- A B [WORKLOAD]`: two servers side by side on one workload, for A/B work.
 * Each of A and B is `tokenrelay` (this checkout's dist/), a path to another build's dist/cli.js
 * (say, a `git worktree` of main), `undici` or `http-proxy` (the benchmark's pass-throughs), or
 * `tenant` / `tenant-redis` (this checkout with one tenant whose rate limit never refuses,
 * counted in this process or in a redis-server the script starts), `redis` (the token cache in
 * Redis, no tenants: tenant-redis's baseline), or `traced` (this checkout
 * with tracing on at sampleRatio 0.1, exporting to a collector that keeps nothing).
 * WORKLOAD (or PAIR_WORKLOAD) is any of `npm run bench`'s: get (default), post-1k, post-64k,
 * post-1m, post-8m (multipart), connections-1000, upload, download (300 MB streams), refresh
 * (tokens revoked three times under a 1 MiB POST load, on A and B in turn).
 * Loads run A and B *at the same time*, both on core 0 with the upstream: their requests/s
 * split by what a request costs each, under the very same conditions (on a VM whose speed
 * drifts ±25 % from one round to the next, this resolves differences of ~1 %). Streams run one
 * at a time, after one unmeasured 300 MB stream each, A B then B A, and the ratio is taken within each round.
 * Also printed: each process's own CPU time per request (user + system, from /proc), and for a
 * tokenrelay its time in garbage collection per 1,000 requests, by kind (from its /metrics).
 * connections-1000 paired favours the side with more upstream connections (the upstream serves
 * both connection by connection): tokenrelay opens at most limits.maxConcurrentPerUpstream (256),
 * the undici pass-through one per request in flight (docs/performance.md).
 * Env: BENCH_SMOKE=1 (CI: one 1-second round, 8 MiB streams, one refresh; fails on any error),
 * PAIR_ROUNDS (3), PAIR_SECONDS (6), PAIR_WARMUP (seconds, two rounds), PAIR_CONNECTIONS (the
 * workload's, 25 for get), PAIR_BODY (bytes: POST a body of this size),
 * BENCH_TOKENRELAY_NODE_FLAGS (node flags for the tokenrelay builds), BENCH_ROLE_NODE_FLAGS (for
 * the pass-throughs), BENCH_LOG_DIR (keep each server's output there).
 * PAIR_PRELOAD=get: before a load, each server (PAIR_PRELOAD_ON: a, b or both) first serves
 * PAIR_PRELOAD_SECONDS (20) of the 50-connection GET load alone, the history `npm run bench`
 * gives its POST rows: a POST 1 KiB ratio after it is not the ratio of two fresh processes.
 */
import autocannon from 'autocannon';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, pinned, rss, runScript, startNode, startRole, redisCacheConfig, startRedisServer, startTokenrelay, tenantConfig, tokenrelayConfig, tokenrelayNodeFlags, tracingConfig, type Server } from './servers.js';
import { POSTS, refreshUnderLoad, stream } from './workloads.js';

const [a = 'tokenrelay', b = 'undici', named] = process.argv.slice(2);
const workload = named ?? process.env.PAIR_WORKLOAD ?? 'get';
// BENCH_SMOKE=1 (CI): one short round, 8 MiB streams, one refresh: the script must keep working.
const smoke = process.env.BENCH_SMOKE === '1';
const rounds = Number(process.env.PAIR_ROUNDS ?? (smoke ? 1 : 3));
const seconds = Number(process.env.PAIR_SECONDS ?? (smoke ? 1 : 6));
const streamBytes = smoke ? 8 * 2 ** 20 : undefined;
if (pinned) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)]);

interface Shape { connections: number; body?: Buffer; headers?: Record<string, string>; path: string }
const byLabel = (label: string) => POSTS.find((p) => p.label === label)!;
const post = (label: string): Shape => ({ ...byLabel(label), path: '/upload' });
const SHAPES: Record<string, () => Shape> = {
  get: () => ({ connections: 25, path: '/api/open/v3/voice/list' }),
  'post-1k': () => post('1 KiB'),
  'post-64k': () => post('64 KiB'),
  'post-1m': () => post('1 MiB'),
  'post-8m': () => post('8 MiB multipart'),
  'connections-1000': () => ({ connections: 1000, path: '/api/open/v3/voice/list' }),
};

async function start(spec: string, target: string, upstreamPort: number): Promise<Server> {
  if (spec === 'undici' || spec === 'http-proxy') return startRole(spec, spec, target);
  if (spec === 'tenant') return startTokenrelay(spec, upstreamPort, tenantConfig());
  if (spec === 'traced') {
    const collector = await startRole('collector', 'collector');
    return startTokenrelay(spec, upstreamPort, tracingConfig(collector.port, Number(process.env.PAIR_SAMPLE ?? 0.1)));
  }
  if (spec === 'tenant-redis' || spec === 'redis') {
    const url = await startRedisServer();
    if (!url) throw new Error(`${spec} needs redis-server (apt-get install -y redis-server)`);
    return startTokenrelay(spec, upstreamPort, spec === 'redis' ? redisCacheConfig(url) : tenantConfig(url));
  }
  const cli = spec === 'tokenrelay' ? 'dist/cli.js' : spec;
  const file = join(mkdtempSync(join(tmpdir(), 'tokenrelay-pair-')), 'proxy.config.yaml');
  writeFileSync(file, tokenrelayConfig(upstreamPort));
  return startNode(spec, [...tokenrelayNodeFlags, cli, '--config', file], /"event":"listening".*?"port":(\d+)/, '/akool');
}

/** The servers PAIR_PRELOAD gives a history (PAIR_PRELOAD_ON: a, b or both), one after the other. */
const preloadSeconds = Number(process.env.PAIR_PRELOAD_SECONDS ?? (smoke ? 1 : 20));
function preloaded(sa: Server, sb: Server): Server[] {
  if (process.env.PAIR_PRELOAD === undefined) return [];
  if (process.env.PAIR_PRELOAD !== 'get') throw new Error(`PAIR_PRELOAD=${process.env.PAIR_PRELOAD}: only get is known`);
  const on = process.env.PAIR_PRELOAD_ON ?? 'both';
  return on === 'a' ? [sa] : on === 'b' ? [sb] : [sa, sb];
}

/**
 * A tokenrelay's time in garbage collection so far (seconds by kind: minor, major, incremental),
 * from its own /metrics; undefined for a server without them (the pass-throughs). Read between
 * rounds: a change to the per-request objects can turn what V8 promotes out of the young
 * generation from ~0.1 to ~1.5 MB a collection, and cost more than the change saves.
 */
async function gcSeconds(s: Server): Promise<Map<string, number> | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${s.port}/metrics`, { headers: s.headers ?? {} });
    const text = await res.text();
    // A pass-through forwards /metrics to the upstream, which answers something else.
    if (!res.ok || !text.includes('# TYPE tokenrelay_nodejs_gc_duration_seconds ')) return undefined;
    const out = new Map<string, number>();
    for (const m of text.matchAll(/^tokenrelay_nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) out.set(m[1]!, Number(m[2]));
    return out;
  } catch {
    return undefined;
  }
}

/** GC milliseconds per 1,000 requests between two readings, by kind ('' when there are none). */
function gcPerKilo(before: Map<string, number> | undefined, after: Map<string, number> | undefined, requests: number): string {
  if (!before || !after) return '';
  const kinds = ['minor', 'major', 'incremental'].map((k) => `${k} ${((((after.get(k) ?? 0) - (before.get(k) ?? 0)) * 1e6) / requests).toFixed(2)}`);
  return ` (GC ms/1k req: ${kinds.join(', ')})`;
}

async function loads(sa: Server, sb: Server, shape: Shape) {
  const connections = Number(process.env.PAIR_CONNECTIONS ?? shape.connections);
  const bodyBytes = Number(process.env.PAIR_BODY ?? 0);
  const body = bodyBytes > 0 ? Buffer.alloc(bodyBytes, 'a') : shape.body;
  const total = async (s: Server, duration: number) => {
    const r = await autocannon({
      url: `http://127.0.0.1:${s.port}${s.prefix}${bodyBytes > 0 ? '/upload' : shape.path}`, connections, duration,
      ...(body ? { method: 'POST' as const, body } : {}), ...(shape.headers || s.headers ? { headers: { ...s.headers, ...shape.headers } } : {}),
    });
    // A ratio of failures measures nothing: the smoke (CI) fails on any.
    if (smoke && (r.errors || r.non2xx)) throw new Error(`${s.name}: ${r.errors} errors, ${r.non2xx} answers not 2xx`);
    return r.requests.total;
  };
  // PAIR_PRELOAD=get: a history first, as `npm run bench` runs its GET rounds before the POST rows.
  for (const s of preloaded(sa, sb)) {
    await autocannon({ url: `http://127.0.0.1:${s.port}${s.prefix}${SHAPES.get!().path}`, connections: 50, duration: preloadSeconds, ...(s.headers ? { headers: s.headers } : {}) });
  }
  // Warm-up: two rounds' worth (workloads.ts's paired() says why), PAIR_WARMUP seconds if set.
  const warmup = Number(process.env.PAIR_WARMUP ?? 2 * seconds);
  await Promise.all([total(sa, warmup), total(sb, warmup)]);
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  const cpu = () => [cpuSeconds(sa.proc.pid!), cpuSeconds(sb.proc.pid!)] as const;
  for (let r = 1; r <= rounds; r++) {
    const [ga, gb] = await Promise.all([gcSeconds(sa), gcSeconds(sb)]);
    const [ca, cb] = cpu();
    const [na, nb] = await Promise.all([total(sa, seconds), total(sb, seconds)]);
    const [ca2, cb2] = cpu();
    const [ga2, gb2] = await Promise.all([gcSeconds(sa), gcSeconds(sb)]);
    // Each process's own CPU time per request: the same question asked another way.
    const [ua, ub] = [((ca2 - ca) * 1e6) / na, ((cb2 - cb) * 1e6) / nb];
    ratios.push(na / nb);
    cpuRatios.push(ua / ub);
    process.stdout.write(`round ${r}: A ${Math.round(na / seconds)} req/s ${ua.toFixed(1)} µs CPU/req${gcPerKilo(ga, ga2, na)}, B ${Math.round(nb / seconds)} req/s ${ub.toFixed(1)} µs CPU/req${gcPerKilo(gb, gb2, nb)}, A/B ${(na / nb).toFixed(3)} req/s, ${(ua / ub).toFixed(3)} CPU/req\n`);
  }
  return `A/B ${ratios.map((x) => x.toFixed(3)).join(' ')} req/s, ${cpuRatios.map((x) => x.toFixed(3)).join(' ')} CPU/req`;
}

async function streams(sa: Server, sb: Server, kind: 'upload' | 'download') {
  // One unmeasured full stream each first, as `npm run bench` gives its stream rows: a process's
  // first 300 MB upload ran at up to twice the CPU per MB of its later ones (heap, JIT).
  await stream(sa, kind, streamBytes);
  await stream(sb, kind, streamBytes);
  const ratios: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const order = r % 2 ? [sa, sb] : [sb, sa];
    const got = new Map<Server, { mbps: number; growth: number; cpuMsPerMB: number }>();
    for (const s of order) got.set(s, await stream(s, kind, streamBytes));
    const [x, y] = [got.get(sa)!, got.get(sb)!];
    ratios.push(x.mbps / y.mbps);
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    process.stdout.write(`round ${r}: A ${x.mbps.toFixed(0)} MB/s ${x.cpuMsPerMB.toFixed(2)} ms CPU/MB (+${mib(x.growth)} MiB), B ${y.mbps.toFixed(0)} MB/s ${y.cpuMsPerMB.toFixed(2)} ms CPU/MB (+${mib(y.growth)} MiB), A/B ${(x.mbps / y.mbps).toFixed(3)}\n`);
  }
  return `A/B ${ratios.map((x) => x.toFixed(3)).join(' ')} MB/s`;
}

/**
 * Tokens revoked three times under a 1 MiB POST load (the benchmark's row), on A and on B in
 * turn: a revocation at the upstream reaches every server, so the two cannot run at once.
 */
async function refreshes(sa: Server, sb: Server, target: string) {
  const medians = new Map<Server, number[]>([[sa, []], [sb, []]]);
  for (let r = 1; r <= rounds; r++) {
    const line: string[] = [];
    for (const s of r % 2 ? [sa, sb] : [sb, sa]) {
      const x = await refreshUnderLoad(s, target, smoke ? 1 : 3, smoke ? 0 : 4);
      // No request may fail across a refresh: the smoke (CI) fails if one did.
      if (smoke && x.errors) throw new Error(`${s.name}: ${x.errors} requests failed across a refresh`);
      medians.get(s)!.push(x.ratio);
      line.push(`${s === sa ? 'A' : 'B'} ${x.errors} failed, ${x.ratios.map((y) => y.toFixed(2)).join(' ')}`);
    }
    process.stdout.write(`round ${r}: ${line.join('; ')}\n`);
  }
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  return `the second after a refresh ÷ the others (${smoke ? 'one refresh' : 'medians of three'}): A ${fmt(medians.get(sa)!)}, B ${fmt(medians.get(sb)!)}`;
}

const OTHERS = ['upload', 'download', 'refresh'];

async function main() {
  if (!OTHERS.includes(workload) && !SHAPES[workload]) {
    throw new Error(`unknown workload ${workload}: one of ${[...Object.keys(SHAPES), ...OTHERS].join(', ')}`);
  }
  const upstream = await startRole('upstream', 'upstream');
  const target = `http://127.0.0.1:${upstream.port}`;
  const [sa, sb] = [await start(a, target, upstream.port), await start(b, target, upstream.port)];
  const summary = workload === 'upload' || workload === 'download' ? await streams(sa, sb, workload)
    : workload === 'refresh' ? await refreshes(sa, sb, target) : await loads(sa, sb, SHAPES[workload]!());
  const mb = (s: Server) => (rss(s.proc.pid!).peak / 1e6).toFixed(0);
  process.stdout.write(`${workload}: A = ${a}, B = ${b}: ${summary}; peak RSS A ${mb(sa)} MB, B ${mb(sb)} MB\n`);
}

runScript(main);
