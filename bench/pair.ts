/**
 * `npm run bench:pair -- A B`: two servers loaded at the same time, for A/B work on the hot path.
 * Each of A and B is `tokenrelay` (this checkout's dist/), a path to another build's dist/cli.js
 * (say, a `git worktree` of main), `undici` or `http-proxy` (the benchmark's pass-throughs).
 * Both sit on core 0 with the upstream and share it, so their requests/s split by what a
 * request costs each, under the very same conditions: on a VM whose speed drifts ±25 % from
 * one round to the next, this resolves differences of ~1 % where sequential rounds cannot.
 * Also printed: each process's own CPU time per request (user + system, from /proc).
 * Env: PAIR_ROUNDS (3), PAIR_SECONDS (6), PAIR_CONNECTIONS (25 each), PAIR_BODY (bytes: POST a body
 * of this size instead of a GET), BENCH_TOKENRELAY_NODE_FLAGS (node flags for the tokenrelay
 * builds, as in `npm run bench`).
 */
import autocannon from 'autocannon';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, pinned, rss, runScript, startNode, tokenrelayNodeFlags, type Server } from './servers.js';

const [a = 'tokenrelay', b = 'undici'] = process.argv.slice(2);
const rounds = Number(process.env.PAIR_ROUNDS ?? 3);
const seconds = Number(process.env.PAIR_SECONDS ?? 6);
const connections = Number(process.env.PAIR_CONNECTIONS ?? 25);
const bodyBytes = Number(process.env.PAIR_BODY ?? 0);
const body = bodyBytes > 0 ? Buffer.alloc(bodyBytes, 'a') : undefined;
if (pinned) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)]);

async function start(spec: string, target: string, upstreamPort: number): Promise<Server> {
  if (spec === 'undici' || spec === 'http-proxy') return startNode(spec, ['bench/roles.mjs', spec, target], /READY (\d+)/);
  const cli = spec === 'tokenrelay' ? 'dist/cli.js' : spec;
  const file = join(mkdtempSync(join(tmpdir(), 'tokenrelay-pair-')), 'proxy.config.yaml');
  writeFileSync(file, `listen: { port: 0 }\nupstreams:\n  akool: { prefix: /akool, target: "http://127.0.0.1:${upstreamPort}", auth: { type: akool, clientId: a, clientSecret: b } }\n`);
  return startNode(spec, [...tokenrelayNodeFlags, cli, '--config', file], /"event":"listening".*?"port":(\d+)/, '/akool');
}

const total = async (s: Server, duration: number) => (await autocannon({
  url: `http://127.0.0.1:${s.port}${s.prefix}/api/open/v3/voice/list`, connections, duration,
  ...(body ? { method: 'POST' as const, body } : {}),
})).requests.total;

async function main() {
  const upstream = await startNode('upstream', ['bench/roles.mjs', 'upstream'], /READY (\d+)/);
  const target = `http://127.0.0.1:${upstream.port}`;
  const [sa, sb] = [await start(a, target, upstream.port), await start(b, target, upstream.port)];
  await Promise.all([total(sa, 2), total(sb, 2)]); // warm-up
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  const cpu = () => [cpuSeconds(sa.proc.pid!), cpuSeconds(sb.proc.pid!)] as const;
  for (let r = 1; r <= rounds; r++) {
    const [ca, cb] = cpu();
    const [na, nb] = await Promise.all([total(sa, seconds), total(sb, seconds)]);
    const [ca2, cb2] = cpu();
    // Each process's own CPU time per request: the same question asked another way.
    const [ua, ub] = [((ca2 - ca) * 1e6) / na, ((cb2 - cb) * 1e6) / nb];
    ratios.push(na / nb);
    cpuRatios.push(ua / ub);
    process.stdout.write(`round ${r}: A ${Math.round(na / seconds)} req/s ${ua.toFixed(1)} µs CPU/req, B ${Math.round(nb / seconds)} req/s ${ub.toFixed(1)} µs CPU/req, A/B ${(na / nb).toFixed(3)} req/s, ${(ua / ub).toFixed(3)} CPU/req\n`);
  }
  const mb = (s: Server) => (rss(s.proc.pid!).peak / 1e6).toFixed(0);
  process.stdout.write(`A = ${a}, B = ${b}: A/B ${ratios.map((x) => x.toFixed(3)).join(' ')} req/s, ${cpuRatios.map((x) => x.toFixed(3)).join(' ')} CPU/req; peak RSS A ${mb(sa)} MB, B ${mb(sb)} MB\n`);
}

runScript(main);
