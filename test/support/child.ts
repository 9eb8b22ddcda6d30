/** Runs `node dist/cli.js` as its own process: for signals, exit codes and memory figures. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { startFakeVendor, type FakeVendor, type VendorKind } from './fakes/vendor.js';
import { ROOT } from './paths.js';

export const CLI = join(ROOT, 'dist', 'cli.js');

export interface RelayProcess {
  proc: ChildProcess;
  url: string;
  stdout: string[];
  stderr: string[];
  /** Resident and peak resident memory of the process, in bytes (Linux /proc). */
  memory(): { rss: number; peak: number };
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * A config file's text with one upstream for a fake vendor: `/<kind>` to its URL, its
 * credentials inline; `top` adds top-level keys (listen is port 0).
 */
export function vendorConfig(vendor: { kind: string; url: string; credentials: Record<string, string> }, top = ''): string {
  const creds = Object.entries(vendor.credentials).map(([k, v]) => `${k}: "${v}"`).join(', ');
  return `listen: { port: 0 }\n${top}upstreams:\n  ${vendor.kind}:\n    prefix: /${vendor.kind}\n    target: ${vendor.url}\n    auth: { type: ${vendor.kind}, ${creds} }\n`;
}

export function writeConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokenrelay-test-'));
  const file = join(dir, 'proxy.config.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** Runs the CLI to completion (for usage and config errors). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts the proxy with `yaml` (its listen port should be 0), or with `file`, and waits for it to listen. */
export function startRelayProcess(yaml: string, env: NodeJS.ProcessEnv = {}, file = writeConfig(yaml)): Promise<RelayProcess> {
  const proc = spawn(process.execPath, [CLI, '--config', file], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let buf = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL'); // never leave a stray process behind a failed start
      reject(new Error(`relay did not start: ${stderr.join('')}`));
    }, 10_000);
    proc.stderr!.on('data', (d) => stderr.push(String(d)));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code}: ${stderr.join('')}`));
    });
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        stdout.push(line);
        if (line.includes('"event":"listening"')) {
          clearTimeout(timer);
          proc.removeAllListeners('exit');
          const port = (JSON.parse(line) as { port: number }).port;
          resolve({
            proc, stdout, stderr, url: `http://127.0.0.1:${port}`,
            memory() {
              const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
              const kib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
              return { rss: kib('VmRSS'), peak: kib('VmHWM') };
            },
            stop(signal = 'SIGTERM') {
              return new Promise((res) => {
                if (proc.exitCode !== null) return res(proc.exitCode);
                proc.once('exit', (code) => res(code));
                proc.kill(signal);
              });
            },
          });
        }
      }
    });
  });
}

/**
 * For a describe block: `start()` runs a fake vendor and tokenrelay as its own process in front
 * of it; both are closed after each test (a relay that already stopped is left as it is).
 */
export function relayProcessEach(kind: VendorKind = 'akool') {
  const h: { vendor?: FakeVendor | undefined; relay?: RelayProcess | undefined; start(env?: NodeJS.ProcessEnv): Promise<RelayProcess> } = {
    async start(env = {}) {
      h.vendor = await startFakeVendor(kind);
      h.relay = await startRelayProcess(vendorConfig(h.vendor), env);
      return h.relay;
    },
  };
  afterEach(async () => {
    await h.relay?.stop('SIGKILL');
    await h.vendor?.close();
    h.relay = undefined;
    h.vendor = undefined;
  });
  return h;
}
