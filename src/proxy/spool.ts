/**
 * The spool directory and its files: names that say which process owns them, a budget shared
 * by every request in flight, and the clean-ups at start (files of processes that are gone) and
 * at shutdown (this process's own).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SpoolPool, type SpoolPoolOptions } from './spool-pool.js';

/**
 * The spool's shared budget: bytes on disk across every request in flight. Past it, a body
 * streams on without a replay copy rather than fill the disk (a Kubernetes emptyDir that
 * outgrows its sizeLimit gets the whole pod evicted).
 */
export class SpoolBudget {
  used = 0;
  /** Spool files kept open between bodies; their bytes count here until a body needs them. */
  readonly pool: SpoolPool;
  constructor(public max: number, pool: SpoolPoolOptions = {}) {
    this.pool = new SpoolPool((n) => this.give(n), pool);
  }
  take(n: number): boolean {
    // An idle file gives way to a body in flight: a copy matters more than a faster next one.
    while (this.used + n > this.max) if (!this.pool.evictOne()) return false;
    this.used += n;
    return true;
  }
  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

const SPOOL_FILE = /^tr-(\d+)-[0-9a-f]+\.spool$/;

/**
 * Creates the spool directory (0700) and removes files left by processes that are gone
 * (a killed process cannot clean up after itself). Files of live processes are left alone.
 */
export function prepareSpoolDir(dir: string, isAlive: (pid: number) => boolean = pidAlive): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let removed = 0;
  for (const name of readdirSync(dir)) {
    const m = SPOOL_FILE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    // Our own pid in a leftover name means a previous process had it (PID 1 in containers).
    if (pid === process.pid || !isAlive(pid)) {
      rmSync(join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}

/** Removes this process's own spool files (at shutdown: requests cut by the grace period). */
export function removeOwnSpoolFiles(dir: string): number {
  let removed = 0;
  try {
    for (const name of readdirSync(dir)) {
      const m = SPOOL_FILE.exec(name);
      if (m && Number(m[1]) === process.pid) {
        rmSync(join(dir, name), { force: true });
        removed++;
      }
    }
  } catch {
    // No spool directory: nothing was spooled.
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A new spool file's path: `tr-<pid>-<random>.spool`, so a later start knows whose it was. */
export function spoolFile(dir: string): string {
  return join(dir, `tr-${process.pid}-${randomBytes(8).toString('hex')}.spool`);
}
