import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ReplayBody } from '../../../src/proxy/replay.js';
import { SpoolBudget } from '../../../src/proxy/spool.js';
import { eventually, openSpoolFiles } from '../../support/spool-fds.js';

const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));

describe('replay copy after release', () => {
  it('records nothing more: a body that goes on after an early answer opens no new spool file', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tr-release-'));
    const source = new PassThrough();
    const limits = { memoryBytes: 64 * 1024, maxBytes: 64 * 1024 * 1024, maxSpoolBytes: 1024 ** 3, spoolDir };
    const budget = new SpoolBudget(limits.maxSpoolBytes);
    const replay = new ReplayBody(source, limits, Infinity, budget);
    // The first attempt drains what it is given (as undici would until the early answer).
    replay.firstAttempt().resume();
    source.write(Buffer.alloc(256 * 1024, 1));
    await tick();
    expect(openSpoolFiles(spoolDir)).toHaveLength(1);
    expect(readdirSync(spoolDir)).toEqual([]); // unlinked once open
    // The vendor answered early: no resend can come; the copy goes (its file to the pool).
    replay.release();
    // The client keeps sending, and finishes its body.
    for (let i = 0; i < 8; i++) source.write(Buffer.alloc(128 * 1024, 2));
    source.end();
    await replay.complete();
    await tick();
    // No second file was opened for the rest of the body: the one there is sits in the pool.
    expect(openSpoolFiles(spoolDir)).toHaveLength(1);
    expect(replay.replayable).toBe(false);
    budget.pool.close();
    expect(await eventually(() => openSpoolFiles(spoolDir).length === 0)).toBe(true);
  });
});

describe('replay copy released while its spool file is still opening', () => {
  it('leaves no file once the open completes, and no descriptor past the pool\'s', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tr-release-open-'));
    const limits = { memoryBytes: 1024, maxBytes: 64 * 1024 * 1024, maxSpoolBytes: 1024 ** 3, spoolDir };
    const budget = new SpoolBudget(limits.maxSpoolBytes);
    for (let i = 0; i < 20; i++) {
      const source = new PassThrough();
      const replay = new ReplayBody(source, limits, Infinity, budget);
      replay.firstAttempt().resume();
      // Past memoryBytes: the spool file is being opened (asynchronously) when the copy goes.
      source.write(Buffer.alloc(4096, 1));
      await new Promise((r) => setImmediate(r));
      replay.release();
      source.destroy();
    }
    await tick(200);
    expect(readdirSync(spoolDir)).toEqual([]);
    expect(budget.pool.size).toBeLessThanOrEqual(4);
    expect(openSpoolFiles(spoolDir)).toHaveLength(budget.pool.size);
    budget.pool.close();
    expect(await eventually(() => openSpoolFiles(spoolDir).length === 0)).toBe(true);
    expect(budget.used).toBe(0);
  });
});
