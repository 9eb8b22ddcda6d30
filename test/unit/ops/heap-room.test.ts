import { describe, expect, it } from 'vitest';
import { BODY_GROWING_PERCENT, createHeapRoom, MIN_BODY } from '../../../src/ops/heap-room.js';

/** A heap room on fake flags and a fake interval, ticked by hand. */
function fake(over: { v8Major?: number; execArgv?: string[]; nodeOptions?: string } = {}) {
  const flags: string[] = [];
  const changes: boolean[] = [];
  let tick: (() => void) | undefined;
  let cleared = 0;
  let unrefd = 0;
  const room = createHeapRoom({
    v8Major: over.v8Major ?? 11, execArgv: over.execArgv ?? [], nodeOptions: over.nodeOptions, quietMs: 1000,
    setFlags: (f) => flags.push(f),
    onChange: (o) => changes.push(o),
    setInterval: (fn, ms) => {
      expect(ms).toBe(500);
      tick = fn;
      return { unref: () => unrefd++ };
    },
    clearInterval: () => {
      cleared++;
      tick = undefined;
    },
  });
  return { room, flags, changes, tick: () => tick?.(), counts: () => ({ cleared, unrefd, ticking: tick !== undefined }) };
}

const open = `--heap-growing-percent=${BODY_GROWING_PERCENT}`;

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
    expect(f.flags).toEqual([open, '--heap-growing-percent=0']);
    expect(f.counts().ticking).toBe(false);
    f.room.body(MIN_BODY);
    expect(f.flags).toEqual([open, '--heap-growing-percent=0', open]);
    expect(f.changes).toEqual([true, false, true]);
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
    expect(f.flags).toEqual([open, '--heap-growing-percent=0']);
    expect(f.counts()).toMatchObject({ cleared: 1, ticking: false });
  });

  it('does nothing on V8 12 and later, or when the user set the factor (flag or NODE_OPTIONS)', () => {
    for (const f of [fake({ v8Major: 12 }), fake({ v8Major: 14 }), fake({ execArgv: ['--heap-growing-percent=80'] }), fake({ nodeOptions: '--heap_growing_percent=20' })]) {
      f.room.body(Infinity);
      f.room.stop();
      expect(f.flags).toEqual([]);
    }
  });

  it("sets the real V8 flag without error on this process's V8", () => {
    const room = createHeapRoom({ v8Major: Number(process.versions.v8.split('.')[0]), execArgv: process.execArgv, quietMs: 60_000 });
    room.body(Infinity);
    room.stop();
  });
});
