/**
 * `npm start` as a newcomer runs it: SIGTERM to npm (what a process manager or `kill` sends)
 * must drain and stop tokenrelay, not leave it listening under PID 1.
 */
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeConfig } from '../../support/child.js';
import { ROOT } from '../../support/paths.js';

const root = ROOT;
const refused = (port: number) => new Promise<boolean>((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.once('connect', () => {
    s.destroy();
    resolve(false);
  });
  s.once('error', () => resolve(true));
});

describe('npm start', () => {
  let config = '';
  // Whatever happens, nothing started here outlives the test.
  afterEach(() => void spawnSync('pkill', ['-f', config]));

  it('SIGTERM to npm drains and stops tokenrelay (no orphan left listening)', async () => {
    config = writeConfig('listen: { port: 0 }\nupstreams:\n  a: { prefix: /a, target: "http://127.0.0.1:9", auth: { type: akool, clientId: x, clientSecret: y } }\n');
    const npm = spawn('npm', ['start', '--silent', '--', '--config', config], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    npm.stderr.on('data', (d: Buffer) => (out += d));
    const port = await new Promise<number>((resolve, reject) => {
      npm.stdout.on('data', (d: Buffer) => {
        out += d;
        const m = /"event":"listening".*?"port":(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      setTimeout(() => reject(new Error(`not listening: ${out}`)), 30_000).unref();
    });
    expect(await refused(port)).toBe(false);
    npm.kill('SIGTERM');
    // tokenrelay's own output (inherited through npm) says it drained and stopped.
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (out.includes('"event":"stopped"')) {
          clearInterval(t);
          resolve();
        }
      }, 50);
      setTimeout(() => {
        clearInterval(t);
        reject(new Error(`tokenrelay did not stop: ${out}`));
      }, 10_000).unref();
    });
    expect(out).toContain('"event":"shutdown"');
    // Its port is free again: the process is gone.
    let free = false;
    for (let i = 0; i < 40 && !free; i++) {
      free = await refused(port);
      if (!free) await new Promise((r) => setTimeout(r, 100));
    }
    expect(free).toBe(true);
  });

  it('the log reads as text at a terminal through pino-pretty (npm start | npx pino-pretty)', () => {
    const line = JSON.stringify({ level: 30, time: Date.now(), service: 'tokenrelay', event: 'listening', host: '127.0.0.1', port: 8080, msg: 'tokenrelay listening' });
    const r = spawnSync(join(root, 'node_modules', '.bin', 'pino-pretty'), ['--colorize', 'false'], { input: `${line}\n`, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/INFO.*tokenrelay listening/);
    expect(r.stdout).not.toContain('"level"');
  });
});
