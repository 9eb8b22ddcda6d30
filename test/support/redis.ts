/** A real redis-server on a free port, started and stopped by the test. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface RedisServer {
  url: string;
  port: number;
  /** SIGKILL: the abrupt death the fallback must survive. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  if (!redisAvailable()) throw new Error('redis-server is not installed (apt-get install -y redis-server); .ci/run installs it');
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const start = () => new Promise<void>((resolve, reject) => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis did not start: ${out}`)), 10_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis exited ${code}: ${out}`));
    });
  });
  const stopWith = (signal: NodeJS.Signals) => new Promise<void>((resolve) => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.removeAllListeners('exit');
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, start, kill: () => stopWith('SIGKILL'), stop: () => stopWith('SIGTERM') };
}
