import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ReplayBody } from '../../../src/proxy/replay.js';

const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));

describe('replay copy after release', () => {
  it('records nothing more: a body that goes on after an early answer opens no new spool file', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tr-release-'));
    const source = new PassThrough();
    const replay = new ReplayBody(source, { memoryBytes: 64 * 1024, maxBytes: 64 * 1024 * 1024, maxSpoolBytes: 1024 ** 3, spoolDir });
    // The first attempt drains what it is given (as undici would until the early answer).
    replay.firstAttempt().resume();
    source.write(Buffer.alloc(256 * 1024, 1));
    await tick();
    expect(readdirSync(spoolDir)).toHaveLength(1);
    // The vendor answered early: no resend can come; the copy goes.
    replay.release();
    expect(readdirSync(spoolDir)).toEqual([]);
    // The client keeps sending, and finishes its body.
    for (let i = 0; i < 8; i++) source.write(Buffer.alloc(128 * 1024, 2));
    source.end();
    await replay.complete();
    await tick();
    expect(readdirSync(spoolDir)).toEqual([]);
    expect(replay.replayable).toBe(false);
  });
});

describe('replay copy released while its spool file is still opening', () => {
  it('leaves no file once the open completes', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tr-release-open-'));
    for (let i = 0; i < 20; i++) {
      const source = new PassThrough();
      const replay = new ReplayBody(source, { memoryBytes: 1024, maxBytes: 64 * 1024 * 1024, maxSpoolBytes: 1024 ** 3, spoolDir });
      replay.firstAttempt().resume();
      // Past memoryBytes: the spool file is being opened (asynchronously) when the copy goes.
      source.write(Buffer.alloc(4096, 1));
      await new Promise((r) => setImmediate(r));
      replay.release();
      source.destroy();
    }
    await tick(200);
    expect(readdirSync(spoolDir)).toEqual([]);
  });
});
