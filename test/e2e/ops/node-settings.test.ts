import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { semiSpaceMb } from '../../../src/ops/node-settings.js';
import { relayProcessEach } from '../../support/child.js';

const v8Major = Number(process.versions.v8.split('.')[0]);
const canRestart = v8Major >= 12 && typeof (process as unknown as { execve?: unknown }).execve === 'function';

describe('process: node settings', () => {
  const each = relayProcessEach();

  // On Node 20 (V8 11) tokenrelay runs as started; on Node 22.15+ it replaces itself, same PID,
  // with a semi-space size and two malloc arenas, and still serves and stops on SIGTERM.
  it(`runs ${canRestart ? 'restarted with a young-generation size' : 'as started'} and serves`, async () => {
    const relay = await each.start();
    const cmdline = readFileSync(`/proc/${relay.proc.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline.includes(`--max-semi-space-size=${semiSpaceMb(v8Major)}`)).toBe(canRestart);
    const environ = readFileSync(`/proc/${relay.proc.pid}/environ`, 'utf8').split('\0');
    expect(environ.includes('MALLOC_ARENA_MAX=2')).toBe(canRestart);
    const res = await request(`${relay.url}/akool/api/open/v3/voice/list`);
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { code: number }).code).toBe(1000);
    expect(await relay.stop('SIGTERM')).toBe(0);
  });

  // Node 20 only (ops/heap-room.ts): a request body of 16 KiB or more gives V8's old generation
  // room; GETs and small bodies do not. Seen in the debug log the CLI writes when it changes.
  it(`${v8Major === 11 ? 'makes heap room at the first large body, not before' : 'leaves V8\'s heap growth alone (V8 12+)'}`, async () => {
    const relay = await each.start({ LOG_LEVEL: 'debug' });
    const url = `${relay.url}/akool/api/open/v3/voice/list`;
    const rooms = () => relay.stdout.filter((l) => l.includes('"event":"heap_room"'));
    // Log lines are written in batches: wait until the access-log lines of `n` requests are out.
    const logged = async (n: number) => {
      for (let i = 0; i < 50 && relay.stdout.filter((l) => l.includes('"msg":"request"')).length < n; i++) await new Promise((r) => setTimeout(r, 50));
    };
    await (await request(url)).body.text();
    await (await request(url, { method: 'POST', body: Buffer.alloc(1024, 1) })).body.text();
    await logged(2);
    expect(rooms()).toEqual([]);
    await (await request(url, { method: 'POST', body: Buffer.alloc(100 * 1024, 1) })).body.text();
    await (await request(url, { method: 'POST', body: Buffer.alloc(100 * 1024, 1) })).body.text();
    await logged(4);
    const seen = rooms().map((l) => JSON.parse(l) as { open: boolean; growingPercent: number });
    if (v8Major !== 11) expect(seen).toEqual([]);
    else {
      // Opened once, at the first large body. A fresh process's old space is ~6-12 MB: 48 MiB of
      // room is 4x-7x (later lines, if any, are the live size read again each second).
      expect(seen.length).toBeGreaterThanOrEqual(1);
      expect(seen.every((s) => s.open)).toBe(true);
      expect(seen[0]!.growingPercent).toBeGreaterThanOrEqual(300);
      expect(seen[0]!.growingPercent).toBeLessThanOrEqual(600);
    }
    expect(await relay.stop('SIGTERM')).toBe(0);
  });

  it('a semi-space size given in NODE_OPTIONS is kept: no restart', async () => {
    const relay = await each.start({ NODE_OPTIONS: '--max-semi-space-size=8' });
    const cmdline = readFileSync(`/proc/${relay.proc.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline.some((a) => a.startsWith('--max-semi-space-size'))).toBe(false);
    expect(await relay.stop('SIGTERM')).toBe(0);
  });
});
