import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpoolFile } from '../../../src/proxy/spool-file.js';

const dir = () => mkdtempSync(join(tmpdir(), 'tr-spoolfile-'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const tick = () => new Promise((r) => setImmediate(r));

/** Writes `chunks` as a client would: waits whenever write() says so. */
async function feed(spool: SpoolFile, chunks: Buffer[]): Promise<number> {
  let waits = 0;
  for (const c of chunks) {
    if (!spool.write(c)) {
      waits++;
      await new Promise<void>((r) => spool.whenDrained(r));
    }
  }
  return waits;
}

describe('spool file', () => {
  it('holds the body exactly, in order, whatever the chunk sizes (1 byte to 300 KiB), with its mode 0600', async () => {
    const path = join(dir(), 'a.spool');
    const errors: Error[] = [];
    const spool = new SpoolFile(path, (e) => errors.push(e));
    const sizes = [1, 7, 65536, 300 * 1024, 3, 1024 * 1024 - 5, 4096, 1];
    const chunks = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    await feed(spool, chunks);
    await new Promise<void>((r) => spool.end(r));
    const body = Buffer.concat(chunks);
    expect(sha(readFileSync(path))).toBe(sha(body));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(errors).toEqual([]);
  });

  it('says wait past its high-water mark and calls back once it has written down', async () => {
    const path = join(dir(), 'b.spool');
    const spool = new SpoolFile(path, () => {});
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
    expect(await feed(spool, chunks)).toBeGreaterThan(0);
    await new Promise<void>((r) => spool.end(r));
    expect(statSync(path).size).toBe(64 * 64 * 1024);
  });

  it('an empty body ends as an empty file', async () => {
    const path = join(dir(), 'c.spool');
    const spool = new SpoolFile(path, () => {});
    await new Promise<void>((r) => spool.end(r));
    expect(statSync(path).size).toBe(0);
  });

  it('a file that cannot be opened reports the error and still calls end back; nothing is left', async () => {
    const path = join(dir(), 'missing', 'd.spool');
    const errors: string[] = [];
    const spool = new SpoolFile(path, (e) => errors.push((e as NodeJS.ErrnoException).code ?? ''));
    spool.write(Buffer.alloc(1024 * 1024));
    await new Promise<void>((r) => spool.end(r));
    expect(errors).toEqual(['ENOENT']);
    expect(existsSync(path)).toBe(false);
  });

  it('a name that exists already is never written into', async () => {
    const d = dir();
    const path = join(d, 'e.spool');
    const first = new SpoolFile(path, () => {});
    await new Promise<void>((r) => first.end(r));
    const errors: string[] = [];
    const second = new SpoolFile(path, (e) => errors.push((e as NodeJS.ErrnoException).code ?? ''));
    second.write(Buffer.alloc(10, 9));
    await new Promise<void>((r) => second.end(r));
    expect(errors).toEqual(['EEXIST']);
    expect(statSync(path).size).toBe(0);
  });

  it('destroyed while it is opening: the file is removed once the open completes', async () => {
    const d = dir();
    for (let i = 0; i < 20; i++) {
      const spool = new SpoolFile(join(d, `f${i}.spool`), () => {});
      spool.write(Buffer.alloc(4096));
      expect(spool.pending).toBe(true);
      spool.destroy();
    }
    for (let i = 0; i < 20 && readdirSync(d).length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(readdirSync(d)).toEqual([]);
  });

  it('destroyed mid-write: end is called back, and its descriptor is closed once the write in flight is done', async () => {
    const path = join(dir(), 'g.spool');
    const spool = new SpoolFile(path, () => {});
    await tick();
    await tick();
    for (let i = 0; i < 16; i++) spool.write(Buffer.alloc(64 * 1024, i));
    let ended = false;
    spool.end(() => (ended = true));
    spool.destroy();
    expect(ended).toBe(true);
    spool.write(Buffer.alloc(10));
    expect(spool.pending).toBe(false);
  });
});
