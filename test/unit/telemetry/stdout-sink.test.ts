// The batched stdout sink: every line arrives whole, in order, across buffer boundaries, for
// ASCII, multi-byte and oversized lines, whether written by the timer or flushed at exit.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StdoutSink } from '../../../src/telemetry/logger.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sinkToFile() {
  const dir = mkdtempSync(join(tmpdir(), 'tokenrelay-sink-'));
  dirs.push(dir);
  const file = join(dir, 'out.log');
  const fd = openSync(file, 'w');
  return { sink: new StdoutSink(fd), read: () => readFileSync(file, 'utf8'), close: () => closeSync(fd) };
}

function lines(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const body = i % 7 === 0 ? `中文-é-${'ü'.repeat(i % 50)}` : 'x'.repeat(i % 300);
    return `${JSON.stringify({ i, body })}\n`;
  });
}

describe('StdoutSink', () => {
  it('flushSync writes every line, in order, across many buffers', () => {
    const { sink, read, close } = sinkToFile();
    const want = lines(5000);
    for (const l of want) sink.write(l);
    sink.flushSync();
    close();
    expect(read()).toBe(want.join(''));
  });

  it('the timer writes what is buffered, and a line larger than a buffer passes whole', async () => {
    const { sink, read, close } = sinkToFile();
    const big = `${JSON.stringify({ big: 'y'.repeat(100_000) })}\n`;
    const want = [...lines(300), big, ...lines(10)];
    for (const l of want) sink.write(l);
    // No explicit flush: the 100 ms timer (and the full-buffer writes) must get it all out.
    for (let i = 0; i < 50 && read().length < want.join('').length; i++) await new Promise((r) => setTimeout(r, 50));
    close();
    expect(read()).toBe(want.join(''));
  });

  /** A pipe nobody reads yet: writes fail with EAGAIN once its buffer is full. */
  function unreadPipe(): number {
    const dir = mkdtempSync(join(tmpdir(), 'tokenrelay-sink-'));
    dirs.push(dir);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    return openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  }

  it('flushSync into a pipe that stays full gives up after its wait instead of hanging the exit', () => {
    const fd = unreadPipe();
    const sink = new StdoutSink(fd);
    // Far more than a pipe's buffer (64 KiB on Linux), and nobody reads.
    for (let i = 0; i < 2000; i++) sink.write(`${JSON.stringify({ i, pad: 'p'.repeat(980) })}\n`);
    const t0 = Date.now();
    sink.flushSync(200);
    const waited = Date.now() - t0;
    closeSync(fd);
    expect(waited).toBeGreaterThanOrEqual(200);
  });

  it('a stdout that stops draining: what is past 16 MiB is dropped, and every dropped line is counted', async () => {
    const fd = unreadPipe();
    const sink = new StdoutSink(fd);
    const n = 20_000;
    for (let i = 0; i < n; i++) sink.write(`${JSON.stringify({ i, pad: 'p'.repeat(980) })}\n`);
    // Now drain it, as a reader that came back would, until the warning arrives.
    const buf = Buffer.alloc(1 << 20);
    const parts: string[] = [];
    let seen = '';
    for (let t = 0; t < 1000 && !seen.includes('"dropped"'); t++) {
      await new Promise((r) => setTimeout(r, 10));
      try {
        for (let got = readSync(fd, buf); got > 0; got = readSync(fd, buf)) parts.push(buf.toString('latin1', 0, got));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      seen = parts.length ? parts[parts.length - 1]! : '';
    }
    closeSync(fd);
    const lines = parts.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { i?: number; dropped?: number });
    const warning = lines.find((l) => l.dropped !== undefined);
    expect(warning?.dropped).toBeGreaterThan(0);
    const kept = lines.filter((l) => l.i !== undefined);
    expect(kept.length + warning!.dropped!).toBe(n);
    // What was kept is whole and in order.
    expect(kept.every((l, k) => k === 0 || l.i! > kept[k - 1]!.i!)).toBe(true);
  });
});
