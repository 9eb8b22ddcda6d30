/**
 * Spool files are unlinked as soon as they are open, so a directory listing no longer shows a
 * leak: the process's descriptors do. Linux only (/proc/self/fd), as the suite's CI is.
 */
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';

/** A process's open descriptors on files in `dir` (unlinked ones read "… (deleted)"): fd → target. */
export function openSpoolFiles(dir: string, pid: number | 'self' = 'self'): Array<{ fd: number; target: string }> {
  const real = realpathSync(dir);
  const out: Array<{ fd: number; target: string }> = [];
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${name}`);
      if (target.startsWith(`${real}/`)) out.push({ fd: Number(name), target });
    } catch {
      // Closed between the listing and the read.
    }
  }
  return out;
}

/** Waits (up to ~1 s) until `cond` holds; the file's last steps (close, unlink) run on the thread pool. */
export async function eventually(cond: () => boolean, ms = 1000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 10) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}
