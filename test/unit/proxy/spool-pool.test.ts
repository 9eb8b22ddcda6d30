import { mkdtempSync, openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultMaxAgeMs, SpoolPool, type IdleSpool } from '../../../src/proxy/spool-pool.js';
import { SpoolBudget } from '../../../src/proxy/spool.js';
import { eventually, openSpoolFiles } from '../../support/spool-fds.js';

const MiB = 1024 * 1024;

/** An open, unlinked file in `dir`, as a body leaves it. */
function idle(dir: string, size: number, born: number): IdleSpool {
  const path = join(dir, `x${Math.random()}.spool`);
  const fd = openSync(path, 'wx+', 0o600);
  unlinkSync(path);
  return { fd, size, born, dir };
}

function setup(opts: ConstructorParameters<typeof SpoolPool>[1] = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tr-pool-'));
  let now = 1_000_000;
  const given: number[] = [];
  const pool = new SpoolPool((n) => given.push(n), { now: () => now, maxAgeMs: 20_000, ...opts });
  return { dir, pool, given, advance: (ms: number) => (now += ms), now: () => now };
}

describe('spool pool', () => {
  it('hands the most recently used file of the same spool directory back, with its bytes still taken', () => {
    const { dir, pool, given, now } = setup();
    const a = idle(dir, 1 * MiB, now());
    const b = idle(dir, 2 * MiB, now());
    pool.put(a);
    pool.put(b);
    expect(pool.take('/elsewhere')).toBeUndefined();
    expect(pool.take(dir)).toBe(b);
    expect(pool.take(dir)).toBe(a);
    expect(pool.take(dir)).toBeUndefined();
    expect(given).toEqual([]);
    pool.put(a);
    pool.put(b);
    pool.close();
  });

  it('closes a file at two thirds of the kernel\'s dirty expiry from when it was made, before the kernel would write it back', async () => {
    const { dir, pool, given, advance, now } = setup();
    pool.put(idle(dir, 5 * MiB, now()));
    advance(19_999);
    expect(pool.size).toBe(1);
    advance(1);
    expect(pool.take(dir)).toBeUndefined();
    expect(given).toEqual([5 * MiB]);
    // One made 20 s ago is not kept at all.
    pool.put(idle(dir, 1 * MiB, now() - 20_000));
    expect(pool.size).toBe(0);
    expect(given).toEqual([5 * MiB, 1 * MiB]);
    expect(await eventually(() => openSpoolFiles(dir).length === 0)).toBe(true);
  });

  it('closes idle files on its own timer once they come of age (an idle proxy keeps no page cache)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tr-pool-'));
    const given: number[] = [];
    const pool = new SpoolPool((n) => given.push(n), { maxAgeMs: 60 });
    pool.put(idle(dir, MiB, Date.now()));
    expect(pool.size).toBe(1);
    expect(await eventually(() => pool.size === 0 && openSpoolFiles(dir).length === 0)).toBe(true);
    expect(given).toEqual([MiB]);
  });

  it('keeps at most maxFiles and maxBytes, closing the oldest first', () => {
    const { dir, pool, given, now } = setup({ maxFiles: 2, maxBytes: 10 * MiB });
    pool.put(idle(dir, 1 * MiB, now()));
    pool.put(idle(dir, 2 * MiB, now()));
    pool.put(idle(dir, 3 * MiB, now()));
    expect(pool.size).toBe(2);
    expect(given).toEqual([1 * MiB]);
    pool.put(idle(dir, 8 * MiB, now()));
    expect(given).toEqual([1 * MiB, 2 * MiB, 3 * MiB]);
    pool.put(idle(dir, 11 * MiB, now()));
    expect(given).toEqual([1 * MiB, 2 * MiB, 3 * MiB, 11 * MiB]);
    expect(pool.size).toBe(1);
    pool.close();
  });

  it('after close, a file put back is closed at once (requests cut short by shutdown unwind later)', async () => {
    const { dir, pool, given, now } = setup();
    pool.put(idle(dir, MiB, now()));
    pool.close();
    pool.put(idle(dir, 2 * MiB, now()));
    expect(pool.size).toBe(0);
    expect(given).toEqual([MiB, 2 * MiB]);
    expect(await eventually(() => openSpoolFiles(dir).length === 0)).toBe(true);
  });

  it('the spool budget counts idle files, and closes them when a body in flight needs their bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tr-pool-'));
    const budget = new SpoolBudget(10 * MiB);
    expect(budget.take(6 * MiB)).toBe(true);
    budget.pool.put(idle(dir, 6 * MiB, Date.now()));
    expect(budget.used).toBe(6 * MiB);
    // A second body needs 6 MiB: the idle file gives way.
    expect(budget.take(6 * MiB)).toBe(true);
    expect(budget.pool.size).toBe(0);
    expect(budget.used).toBe(6 * MiB);
    // Nothing idle left to give way: refused as before.
    expect(budget.take(5 * MiB)).toBe(false);
    budget.pool.close();
  });

  it('reads its age from vm.dirty_expire_centisecs: 2/3 of it, at most 20 s; 20 s when unreadable', () => {
    expect(defaultMaxAgeMs(() => '3000\n')).toBe(20_000);
    expect(defaultMaxAgeMs(() => '1500\n')).toBe(10_000);
    expect(defaultMaxAgeMs(() => '6000\n')).toBe(20_000);
    expect(defaultMaxAgeMs(() => 'garbage')).toBe(20_000);
    expect(defaultMaxAgeMs(() => {
      throw new Error('ENOENT');
    })).toBe(20_000);
  });
});
