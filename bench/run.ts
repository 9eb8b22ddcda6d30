/**
 * `npm run bench`: the data path measured side by side in one run. A fast upstream (200-byte
 * JSON, with a token endpoint) and, in front of it: tokenrelay (built, normal logging and
 * metrics), a minimal undici pass-through, a minimal http-proxy pass-through, and nothing
 * (direct). Same load (autocannon), same connections and duration, after a warm-up, rounds
 * interleaved; servers pinned to core 0 and the load generator to core 1 where taskset exists.
 * BENCH_SECONDS (default 5), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS (default 50).
 */
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const pin = process.env.BENCH_PIN !== '0' && spawnSync('taskset', ['--version']).status === 0;
if (pin) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)]);

interface Server { name: string; proc: ChildProcess; port: number; path: string }
const children: ChildProcess[] = [];

function start(name: string, args: string[], readyLine: RegExp, path: string): Promise<Server> {
  const cmd = pin ? 'taskset' : process.execPath;
  const argv = pin ? ['-c', '0', process.execPath, ...args] : args;
  const proc = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...(name === 'tokenrelay' ? { BENCH_TOKEN: 'x' } : {}) } });
  children.push(proc);
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d) => {
      buf += d;
      const m = readyLine.exec(buf);
      if (m) {
        proc.stdout!.removeAllListeners('data');
        proc.stdout!.resume();
        resolve({ name, proc, port: Number(m[1]), path });
      }
    });
    proc.on('exit', (c) => reject(new Error(`${name} exited ${c}`)));
  });
}

function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function load(s: Server, duration: number) {
  const r = await autocannon({ url: `http://127.0.0.1:${s.port}${s.path}`, connections, duration, pipelining: 1 });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts };
}

async function main() {
  const upstream = await start('upstream', ['bench/roles.mjs', 'upstream'], /READY (\d+)/, '/x');
  const target = `http://127.0.0.1:${upstream.port}`;
  const dir = mkdtempSync(join(tmpdir(), 'tokenrelay-bench-'));
  writeFileSync(join(dir, 'c.yaml'), `listen: { port: 0 }\nupstreams:\n  akool: { prefix: /akool, target: "${target}", auth: { type: akool, clientId: a, clientSecret: b } }\n`);
  const servers = [
    await start('tokenrelay', ['dist/cli.js', '--config', join(dir, 'c.yaml')], /"port":(\d+)/, '/akool/api/open/v3/voice/list'),
    await start('undici pass-through', ['bench/roles.mjs', 'undici', target], /READY (\d+)/, '/api/open/v3/voice/list'),
    await start('http-proxy pass-through', ['bench/roles.mjs', 'http-proxy', target], /READY (\d+)/, '/api/open/v3/voice/list'),
    { ...upstream, name: 'direct', path: '/api/open/v3/voice/list' },
  ];
  process.stderr.write(`bench: ${connections} connections, ${seconds}s x ${rounds} rounds, pinned=${pin}\n`);
  for (const s of servers) await load(s, 1); // warm-up
  const results = new Map<string, Array<Awaited<ReturnType<typeof load>>>>();
  for (let r = 0; r < rounds; r++) {
    for (const s of servers) {
      const res = await load(s, seconds);
      (results.get(s.name) ?? results.set(s.name, []).get(s.name)!).push(res);
      process.stderr.write(`  round ${r + 1} ${s.name}: ${Math.round(res.rps)} req/s\n`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rows = servers.map((s) => {
    const rs = results.get(s.name)!;
    return { name: s.name, rps: med(rs.map((x) => x.rps)), p50: med(rs.map((x) => x.p50)), p99: med(rs.map((x) => x.p99)), errors: rs.reduce((a, x) => a + x.errors, 0), rss: peakRss(s.proc.pid!) };
  });
  const undiciRow = rows.find((r) => r.name === 'undici pass-through')!;
  const lines = [
    `| server | req/s | p50 ms | p99 ms | errors | peak RSS MB | req/s vs undici |`,
    `|---|---:|---:|---:|---:|---:|---:|`,
    ...rows.map((r) => `| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.errors} | ${(r.rss / 1e6).toFixed(0)} | ${(r.rps / undiciRow.rps).toFixed(2)}× |`),
  ];
  const md = `${lines.join('\n')}\n\n${connections} connections, ${seconds}s per round, median of ${rounds} interleaved rounds, 200-byte JSON answers, node ${process.version}, ${new Date().toISOString().slice(0, 10)}.\n`;
  process.stdout.write(`\n${md}`);
  writeFileSync(join(root, 'bench', 'results.md'), md);
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exitCode = 1;
}).finally(() => {
  for (const c of children) c.kill('SIGTERM');
});
