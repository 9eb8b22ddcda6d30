import { describe, expect, it } from 'vitest';
import { BODY_GROWING_PERCENT, createHeapRoom, MIN_BODY, ROOM_BYTES, roomPercent } from '../../../src/ops/heap-room.js';

const MiB = 1024 * 1024;

/** A heap room on fake flags, a fake old space and a fake interval, ticked by hand. */
function fake(over: { v8Major?: number; execArgv?: string[]; nodeOptions?: string; basePercent?: number; quietMs?: number } = {}) {
  const flags: string[] = [];
  const changes: number[] = [];
  const heap = { old: 6 * MiB };
  let tick: (() => void) | undefined;
  let cleared = 0;
  let unrefd = 0;
  const room = createHeapRoom({
    v8Major: over.v8Major ?? 11, execArgv: over.execArgv ?? [], nodeOptions: over.nodeOptions, quietMs: over.quietMs ?? 1000, checkMs: 1000, ...(over.basePercent !== undefined ? { basePercent: over.basePercent } : {}),
    setFlags: (f) => flags.push(f),
    oldBytes: () => heap.old,
    onChange: (p) => changes.push(p),
    setInterval: (fn, ms) => {
      expect(ms).toBe(1000);
      tick = fn;
      return { unref: () => unrefd++ };
    },
    clearInterval: () => {
      cleared++;
      tick = undefined;
    },
  });
  return { room, flags, changes, heap, tick: () => tick?.(), counts: () => ({ cleared, unrefd, ticking: tick !== undefined }) };
}

const open = `--heap-growing-percent=${BODY_GROWING_PERCENT}`;
const back = '--heap-growing-percent=0';

describe('heap room while bodies stream (V8 11)', () => {
  it('is made at the first large body, once, and given back after a quiet spell', () => {
    const f = fake();
    f.room.body(1024 * 1024);
    f.room.body(Infinity);
    expect(f.flags).toEqual([open]);
    expect(f.counts()).toEqual({ cleared: 0, unrefd: 1, ticking: true });
    f.tick(); // a body was seen since the last check: stays
    expect(f.flags).toEqual([open]);
    f.tick(); // none since: V8's own growth again
    expect(f.flags).toEqual([open, back]);
    expect(f.counts().ticking).toBe(false);
    f.room.body(MIN_BODY);
    expect(f.flags).toEqual([open, back, open]);
    expect(f.changes).toEqual([BODY_GROWING_PERCENT, 0, BODY_GROWING_PERCENT]);
  });

  it('given back, it is the base factor set at start (1.5x), never below it', () => {
    const f = fake({ basePercent: 50 });
    f.room.body(Infinity);
    f.tick();
    f.tick();
    expect(f.flags).toEqual([open, '--heap-growing-percent=50']);
    expect(f.changes).toEqual([BODY_GROWING_PERCENT, 50]);
    f.heap.old = 200 * MiB; // no room to give over 1.5x: nothing set at all
    f.room.body(Infinity);
    expect(f.flags).toHaveLength(2);
    expect(roomPercent(100 * MiB, 50)).toBe(50);
    expect(roomPercent(90 * MiB, 50)).toBe(53);
  });

  it('bodies that keep coming keep it', () => {
    const f = fake();
    f.room.body(Infinity);
    for (let i = 0; i < 5; i++) {
      f.tick();
      f.room.body(64 * 1024);
    }
    expect(f.flags).toEqual([open]);
  });

  it('the room is bounded in bytes: a larger old generation gets a smaller factor, a large one none, followed at each check', () => {
    const f = fake();
    f.heap.old = 32 * MiB;
    f.room.body(Infinity);
    expect(f.flags).toEqual(['--heap-growing-percent=150']);
    f.heap.old = 200 * MiB;
    f.tick();
    expect(f.flags.at(-1)).toBe(back);
    expect(f.counts().ticking).toBe(true); // still open: bodies flow, the heap may shrink again
    f.room.body(Infinity);
    f.heap.old = 8 * MiB;
    f.tick();
    expect(f.flags.at(-1)).toBe(open);
  });

  it('roomPercent: 7x up to 8 MiB live, ROOM_BYTES beyond (an idle proxy\'s ~9 MB too), V8 own past ~96 MiB', () => {
    expect(BODY_GROWING_PERCENT).toBe(600);
    expect(roomPercent(0)).toBe(BODY_GROWING_PERCENT);
    expect(roomPercent(8 * MiB)).toBe(600);
    expect(roomPercent(10 * MiB)).toBe(480);
    expect(roomPercent(16 * MiB)).toBe(300);
    expect(roomPercent(24 * MiB)).toBe(200);
    expect(roomPercent(96 * MiB)).toBe(50);
    expect(roomPercent(100 * MiB)).toBe(0);
    // The room over the live size: ROOM_BYTES, which is over the ~32 MB of Buffers V8 lets pile up.
    for (const mb of [9, 10, 12, 20, 40, 64, 90]) expect(Math.abs((roomPercent(mb * MiB) / 100) * mb * MiB - ROOM_BYTES)).toBeLessThan(MiB);
  });

  it('the quiet spell is counted over several checks, and a body resets it', () => {
    const f = fake({ quietMs: 3000 });
    f.room.body(Infinity);
    f.tick(); // seen
    f.tick(); // quiet 1 s
    f.tick(); // quiet 2 s
    expect(f.flags).toEqual([open]);
    f.room.body(Infinity);
    f.tick(); // seen again: the count starts over
    f.tick();
    f.tick();
    expect(f.flags).toEqual([open]);
    f.tick(); // quiet 3 s
    expect(f.flags).toEqual([open, back]);
    expect(f.counts().ticking).toBe(false);
  });

  it('small bodies leave V8 alone', () => {
    const f = fake();
    f.room.body(MIN_BODY - 1);
    f.room.body(1024);
    expect(f.flags).toEqual([]);
    expect(f.counts().ticking).toBe(false);
  });

  it('stop gives it back and leaves no timer; stop when closed does nothing', () => {
    const f = fake();
    f.room.stop();
    expect(f.flags).toEqual([]);
    f.room.body(Infinity);
    f.room.stop();
    expect(f.flags).toEqual([open, back]);
    expect(f.counts()).toMatchObject({ cleared: 1, ticking: false });
  });

  it('does nothing on V8 12 and later, or when the user set the factor (flag or NODE_OPTIONS)', () => {
    for (const f of [fake({ v8Major: 12 }), fake({ v8Major: 14 }), fake({ execArgv: ['--heap-growing-percent=80'] }), fake({ nodeOptions: '--heap_growing_percent=20' })]) {
      f.room.body(Infinity);
      f.room.stop();
      expect(f.flags).toEqual([]);
    }
  });

  it("sets the real V8 flag without error on this process's V8, reading its real old space", () => {
    const changes: number[] = [];
    const room = createHeapRoom({ v8Major: Number(process.versions.v8.split('.')[0]), execArgv: process.execArgv, quietMs: 60_000, onChange: (p) => changes.push(p) });
    room.body(Infinity);
    room.stop();
    // Opened and closed again, unless this worker's old space is too large for any room.
    expect(changes.at(-1) ?? 0).toBe(0);
  });
});
