import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { eventually, openSpoolFiles } from '../../support/spool-fds.js';
import { ReplayBody } from '../../../src/proxy/replay.js';
import { SpoolBudget } from '../../../src/proxy/spool.js';

const MiB = 1024 * 1024;
const limits = (over: Partial<{ memoryBytes: number; maxBytes: number; spoolDir: string }> = {}) => ({
  memoryBytes: 64 * 1024, maxBytes: 64 * MiB, maxSpoolBytes: 1024 ** 3, spoolDir: mkdtempSync(join(tmpdir(), 'tr-tee-')), ...over,
});

/** A body of `n` 64 KiB chunks, each different, and its digest. */
function body(n: number): { chunks: Buffer[]; digest: string } {
  const chunks = Array.from({ length: n }, (_, i) => Buffer.alloc(64 * 1024, i % 251));
  return { chunks, digest: createHash('sha256').update(Buffer.concat(chunks)).digest('hex') };
}

async function digestOf(r: Readable, slow = false): Promise<string> {
  const h = createHash('sha256');
  for await (const c of r) {
    h.update(c as Buffer);
    if (slow) await new Promise((res) => setTimeout(res, 1));
  }
  return h.digest('hex');
}

describe('replay tee', () => {
  it('holds the client back while the upstream is slow, and both the attempt and the copy are the body, in order', async () => {
    const source = new PassThrough({ highWaterMark: 64 * 1024 });
    const replay = new ReplayBody(source, limits());
    const { chunks, digest } = body(64);
    let pausedSeen = false;
    const feed = (async () => {
      for (const c of chunks) {
        if (!source.write(c)) await new Promise((r) => source.once('drain', r));
        if (source.isPaused()) pausedSeen = true;
      }
      source.end();
    })();
    expect(await digestOf(replay.firstAttempt(), true)).toBe(digest);
    await feed;
    expect(pausedSeen).toBe(true);
    expect(await replay.complete()).toBe(true);
    expect(await digestOf(replay.replay())).toBe(digest);
    replay.release();
  });

  it('a spool that fails while the client waits on it lets the body go on, not replayable', async () => {
    // Not a directory that exists: the file's open fails after writes have queued past its buffer.
    const replay = new ReplayBody(Readable.from(body(48).chunks), limits({ memoryBytes: 0, spoolDir: '/nonexistent/tr-spool' }));
    expect(await digestOf(replay.firstAttempt())).toBe(body(48).digest);
    expect(await replay.complete()).toBe(false);
    expect(replay.overflowReason).toBe('spool_full');
  });

  it('keeps recording after the first attempt is detached, and the copy is whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tr-tee-detach-'));
    const source = new PassThrough();
    const budget = new SpoolBudget(1024 ** 3);
    const replay = new ReplayBody(source, limits({ spoolDir: dir }), Infinity, budget);
    const { chunks, digest } = body(40);
    replay.detach();
    for (const c of chunks) source.write(c);
    source.end();
    expect(await replay.complete()).toBe(true);
    expect(openSpoolFiles(dir)).toHaveLength(1);
    expect(await digestOf(replay.replay())).toBe(digest);
    replay.release();
    expect(readdirSync(dir)).toEqual([]);
    // Its file waits in the pool for the next body, and is closed with it.
    expect(budget.pool.size).toBe(1);
    budget.pool.close();
    expect(await eventually(() => openSpoolFiles(dir).length === 0)).toBe(true);
  });

  it('a body over maxBodyBytes fails with BODY_TOO_LARGE and ends the attempt', async () => {
    const replay = new ReplayBody(Readable.from(body(20).chunks), limits(), 512 * 1024);
    const attempt = replay.firstAttempt();
    await expect(digestOf(attempt)).rejects.toBeTruthy();
    expect(await replay.complete()).toBe(false);
    expect(replay.error?.code).toBe('BODY_TOO_LARGE');
  });
});
