// The batched stdout sink: every line arrives whole, in order, across buffer boundaries, for
// ASCII, multi-byte and oversized lines, whether written by the timer or flushed at exit.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StdoutSink } from '../../src/logger.js';

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
});
