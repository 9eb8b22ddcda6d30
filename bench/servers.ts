/** Starting the benchmark's servers: node roles, tokenrelay, nginx; pinned to core 0 where taskset exists. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..');
export const pinned = process.env.BENCH_PIN !== '0' && spawnSync('taskset', ['--version']).status === 0;
const children: ChildProcess[] = [];

export interface Server {
  name: string;
  proc: ChildProcess;
  port: number;
  /** Path prefix the server needs before an upstream path (tokenrelay routes by prefix). */
  prefix: string;
  /** Headers every request to it carries (a tenant's key). */
  headers?: Record<string, string>;
}

export function rss(pid: number): { rss: number; peak: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/**
 * Resets a process's peak RSS (VmHWM) to its current RSS (Linux: `5` into clear_refs), so that
 * a workload's peak is its own and not one left by an earlier workload. False where it cannot.
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

const ticks = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;
/**
 * CPU time (user + system) a process has used, in seconds. Requests/s on core 0 also pays for
 * the upstream that shares it; a server's own CPU time per request is what it adds, alone.
 */
export function cpuSeconds(pid: number): number {
  // Fields 14 and 15 (utime, stime) count after the command name, which may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks;
}

function spawnPinned(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const [c, a] = pinned ? ['taskset', ['-c', '0', cmd, ...args]] : [cmd, args];
  const proc = spawn(c, a, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(proc);
  return proc;
}


/**
 * A node process, ready once `ready` matches its output. Its later output is dropped, or with
 * BENCH_LOG_DIR set kept in DIR/NAME-PID.log (tokenrelay's log, a `--trace-gc`).
 */
export function startNode(name: string, args: string[], ready: RegExp, prefix = '', env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const proc = spawnPinned(process.execPath, args, env);
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d;
      const m = ready.exec(buf);
      if (m) {
        proc.stdout!.off('data', onData);
        const dir = process.env.BENCH_LOG_DIR;
        if (dir) proc.stdout!.pipe(createWriteStream(join(dir, `${name.replace(/\W+/g, '-')}-${proc.pid}.log`)));
        else proc.stdout!.resume();
        resolve({ name, proc, port: Number(m[1]), prefix });
      }
    };
    proc.stdout!.on('data', onData);
    proc.on('exit', (c) => reject(new Error(`${name} exited ${c}`)));
  });
}

/** Node flags for the node roles (the pass-throughs, the upstream): BENCH_ROLE_NODE_FLAGS, say `--trace-gc`. */
const roleNodeFlags = (process.env.BENCH_ROLE_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/** One of bench/roles.mjs's servers (upstream, undici, http-proxy, collector), with the role flags. */
export function startRole(name: string, role: string, target?: string): Promise<Server> {
  return startNode(name, [...roleNodeFlags, 'bench/roles.mjs', role, ...(target ? [target] : [])], /READY (\d+)/);
}

/** Node flags for the tokenrelay under test (the image's, say): BENCH_TOKENRELAY_NODE_FLAGS. */
export const tokenrelayNodeFlags = (process.env.BENCH_TOKENRELAY_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/**
 * The benchmark's tokenrelay config. The replay bound is raised over the 300 MB upload so the
 * whole body is copied (the default 256 MiB would drop the copy near the end). For isolating
 * what the copy costs: BENCH_REPLAY_MAX (say `1`: no copy) and BENCH_SPOOL_DIR (say a tmpfs).
 */
export function tokenrelayConfig(upstreamPort: number, extra = ''): string {
  const spoolDir = process.env.BENCH_SPOOL_DIR ? `, spoolDir: "${process.env.BENCH_SPOOL_DIR}"` : '';
  return `listen: { port: 0 }\nreplay: { maxBytes: ${process.env.BENCH_REPLAY_MAX ?? '512MiB'}${spoolDir} }\nupstreams:\n  akool: { prefix: /akool, target: "http://127.0.0.1:${upstreamPort}", auth: { type: akool, clientId: a, clientSecret: b } }\n${extra}`;
}

export const TENANT_KEY = 'bench-tenant-key-0123456789';

/**
 * One tenant with a rate limit high enough never to refuse (issue: what counting costs), its
 * limits counted in this process, or with `redisUrl` in Redis (the fleet's way).
 */
export function tenantConfig(redisUrl?: string): string {
  const cache = redisUrl ? `tokenCache: { type: redis, url: "${redisUrl}", keyPrefix: "bench:${Date.now()}:", encryptionKey: "${'A'.repeat(43)}=" }\n` : '';
  return `${cache}tenants:\n  bench:\n    keys: ["${TENANT_KEY}"]\n    limits: { requestsPerSecond: 1000000, burst: 1000000 }\n`;
}

/** Tracing on at `sampleRatio` (the 0.1), exporting to a collector that keeps nothing. */
export function tracingConfig(collectorPort: number, sampleRatio = 0.1): string {
  return `tracing: { endpoint: "http://127.0.0.1:${collectorPort}", sampleRatio: ${sampleRatio} }\n`;
}

/** The token cache in Redis and no tenants: what `tenantConfig(redisUrl)` is compared with, cache for cache. */
export function redisCacheConfig(redisUrl: string): string {
  return `tokenCache: { type: redis, url: "${redisUrl}", keyPrefix: "bench:${Date.now()}:", encryptionKey: "${'A'.repeat(43)}=" }\n`;
}

/** A redis-server on core 0 with the other servers, when installed (apt-get install -y redis-server). */
export async function startRedisServer(): Promise<string | undefined> {
  if (spawnSync('redis-server', ['--version']).status !== 0) return undefined;
  const port = await freePort();
  const proc = spawnPinned('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve();
    });
    proc.on('exit', (c) => reject(new Error(`redis-server exited ${c}`)));
  });
  proc.stdout!.resume();
  return `redis://127.0.0.1:${port}`;
}

export async function startTokenrelay(name: string, upstreamPort: number, extra = ''): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenrelay-bench-'));
  const file = join(dir, 'proxy.config.yaml');
  writeFileSync(file, tokenrelayConfig(upstreamPort, extra));
  // As `npm start` and the `tokenrelay` bin run it: `node dist/cli.js`. On Node 22+ that
  // restarts itself with the young-generation size the image sets on its command line
  // (src/ops/node-settings.ts); BENCH_TOKENRELAY_NODE_FLAGS='--max-semi-space-size=N' measures another.
  const server = await startNode(name, [...tokenrelayNodeFlags, 'dist/cli.js', '--config', file], /"event":"listening".*?"port":(\d+)/, '/akool');
  return extra.includes('tenants:') ? { ...server, headers: { 'x-tokenrelay-key': TENANT_KEY } } : server;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export function nginxAvailable(): boolean {
  return spawnSync('nginx', ['-v']).status === 0;
}

/** nginx with proxy_set_header Authorization and upstream keep-alive: one worker, like one Node process. */
export async function startNginx(upstreamPort: number): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenrelay-bench-nginx-'));
  for (const d of ['cb', 'px', 'fc', 'uw', 'sc']) mkdirSync(join(dir, d));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/cb; proxy_temp_path ${dir}/px; fastcgi_temp_path ${dir}/fc; uwsgi_temp_path ${dir}/uw; scgi_temp_path ${dir}/sc;
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer bench-token";
      proxy_request_buffering off;
    }
  }
}
`);
  const proc = spawnPinned('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')]);
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // The worker does the work: measure its memory, not the master's.
  await new Promise((r) => setTimeout(r, 100));
  const worker = spawnSync('pgrep', ['-P', String(proc.pid)]).stdout.toString().trim().split('\n')[0];
  const handle = { ...proc, pid: Number(worker) || proc.pid } as ChildProcess;
  return { name: 'nginx', proc: handle, port, prefix: '' };
}

export function stopAll(): void {
  for (const c of children) c.kill('SIGTERM');
}

/** Runs a benchmark script: its failure is printed and sets exit code 1; every server is stopped. */
export function runScript(main: () => Promise<void>): void {
  // Killed (`kill`, a CI timeout) rather than ended: the servers go too. Left behind on core 0,
  // dozens of idle ones slowed every later figure on the machine.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(sig, () => {
      stopAll();
      process.exit(128 + constants.signals[sig]);
    });
  }
  main().catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exitCode = 1;
  }).finally(() => {
    stopAll();
    setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
  });
}
