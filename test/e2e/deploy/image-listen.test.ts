/**
 * The image answers on its published port. No Docker engine runs here, so this starts the
 * runtime stage's own ENTRYPOINT with the environment its ENV lines set and the config it
 * copies in (proxy.config.yaml), as its USER (setpriv), and checks where it listens: 0.0.0.0,
 * because Docker forwards a published port to the container's interface, not its loopback.
 * Then it runs the image's HEALTHCHECK command against it. Needs root for setpriv (CI is root).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../support/paths.js';

const root = ROOT;
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM ')).replace(/\\\n\s*/g, ' ');
const isRoot = process.getuid?.() === 0;

/** The runtime stage's ENV lines, `K=V K2=V2` form. */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n')) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const pair of m[1]!.match(/\S+=(?:"[^"]*"|\S+)/g) ?? []) {
      const i = pair.indexOf('=');
      env[pair.slice(0, i)] = pair.slice(i + 1).replace(/^"|"$/g, '');
    }
  }
  return env;
}
const json = (re: RegExp) => JSON.parse(re.exec(runtime)![1]!) as string[];

describe.skipIf(!isRoot)('the image listens where Docker can reach it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tr-image-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('its ENTRYPOINT, ENV, USER and built-in config listen on 0.0.0.0, and its HEALTHCHECK passes', async () => {
    const env = imageEnv();
    expect(env.TOKENRELAY_CONFIG).toBe('/etc/tokenrelay/proxy.config.yaml');
    // The built-in config is the repository's proxy.config.yaml (COPY … /etc/tokenrelay/…); only
    // its port is changed here, so the test never collides with a real 8080.
    expect(runtime).toMatch(/COPY\s+(--\S+\s+)*proxy\.config\.yaml \/etc\/tokenrelay\/proxy\.config\.yaml/);
    chmodSync(dir, 0o755);
    const config = join(dir, 'proxy.config.yaml');
    writeFileSync(config, readFileSync(join(root, 'proxy.config.yaml'), 'utf8').replace(/port: 8080/, 'port: 0'));
    chmodSync(config, 0o644);
    const [uid, gid] = /^USER (\d+)(?::(\d+))?$/m.exec(runtime)!.slice(1).map(Number);
    const [cmd, ...args] = json(/^ENTRYPOINT (\[.*\])$/m);
    expect(cmd).toBe('node');
    const proc = spawn('setpriv', ['--reuid', String(uid), '--regid', String(gid ?? uid), '--clear-groups', process.execPath, ...args], {
      cwd: root, env: { PATH: process.env.PATH, ...env, TOKENRELAY_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const listening = await new Promise<{ host: string; port: number }>((resolve, reject) => {
        let out = '';
        proc.stdout.on('data', (d: Buffer) => {
          out += d;
          const line = out.split('\n').find((l) => l.includes('"event":"listening"'));
          if (line) resolve(JSON.parse(line) as { host: string; port: number });
        });
        proc.stderr.on('data', (d: Buffer) => (out += d));
        proc.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      expect(listening.host).toBe('0.0.0.0');
      // The HEALTHCHECK's own command, with its URL pointed at the port we got.
      const hc = json(/^\s*HEALTHCHECK .*?CMD (\[.*\])$/m);
      const r = spawnSync(process.execPath, hc.slice(1), {
        env: { ...env, PATH: process.env.PATH, TOKENRELAY_HEALTH_URL: env.TOKENRELAY_HEALTH_URL!.replace(':8080', `:${listening.port}`) }, timeout: 10_000,
      });
      expect(r.status).toBe(0);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('close', r));
    }
  });

  it('outside the image (no TOKENRELAY_LISTEN_HOST) the same config listens on loopback only', async () => {
    const { compileConfig } = await import('../../../src/config/load.js');
    const { parse } = await import('yaml');
    const doc = parse(readFileSync(join(root, 'proxy.config.yaml'), 'utf8'));
    expect(compileConfig(doc, { env: {} }).listen.host).toBe('127.0.0.1');
    expect(compileConfig(doc, { env: { TOKENRELAY_LISTEN_HOST: '0.0.0.0' } }).listen.host).toBe('0.0.0.0');
    // A host the file names wins over the variable (the sidecar keeps 127.0.0.1).
    expect(compileConfig({ ...doc, listen: { host: '127.0.0.1' } }, { env: { TOKENRELAY_LISTEN_HOST: '0.0.0.0' } }).listen.host).toBe('127.0.0.1');
  });
});
