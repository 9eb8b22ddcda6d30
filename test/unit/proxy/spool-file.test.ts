import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { SpoolFile } from '../../../src/proxy/spool-file.js';
import { SpoolPool } from '../../../src/proxy/spool-pool.js';
import { eventually, openSpoolFiles } from '../../support/spool-fds.js';

const dir = () => mkdtempSync(join(tmpdir(), 'tr-spoolfile-'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const tick = () => new Promise((r) => setImmediate(r));
const ended = (s: SpoolFile) => new Promise<void>((r) => s.end(r));

/** A pool that counts the budget bytes it gives back. */
function pool(opts: ConstructorParameters<typeof SpoolPool>[1] = {}) {
  const given: number[] = [];
  return { pool: new SpoolPool((n) => given.push(n), opts), given };
}

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

/** A spool file in `d` that has written `chunks` and ended. */
async function spooled(d: string, p: SpoolPool, name: string, chunks: Buffer[]): Promise<SpoolFile> {
  const spool = new SpoolFile(d, p, () => {}, join(d, name));
  await feed(spool, chunks);
  await ended(spool);
  return spool;
}

describe('spool file', () => {
  it('holds the body exactly, in order, whatever the chunk sizes (1 byte to 300 KiB): 0600, unlinked, read back through its descriptor', async () => {
    const d = dir();
    const { pool: p } = pool();
    const errors: Error[] = [];
    const spool = new SpoolFile(d, p, (e) => errors.push(e), join(d, 'a.spool'));
    const chunks = [1, 7, 65536, 300 * 1024, 3, 1024 * 1024 - 5, 4096, 1].map((n, i) => Buffer.alloc(n, i + 1));
    await feed(spool, chunks);
    await ended(spool);
    const body = Buffer.concat(chunks);
    expect(spool.written).toBe(body.length);
    expect(readdirSync(d)).toEqual([]);
    const [open] = openSpoolFiles(d);
    expect(open!.target).toMatch(/a\.spool \(deleted\)$/);
    expect(statSync(`/proc/self/fd/${open!.fd}`).mode & 0o777).toBe(0o600);
    expect(sha(await buffer(spool.read()))).toBe(sha(body));
    expect(errors).toEqual([]);
    spool.release(body.length);
    p.close();
    expect(await eventually(() => openSpoolFiles(d).length === 0)).toBe(true);
  });

  it('says wait past its high-water mark and calls back once it has written down', async () => {
    const d = dir();
    const { pool: p } = pool();
    const spool = new SpoolFile(d, p, () => {}, join(d, 'b.spool'));
    const chunks = Array.from({ length: 256 }, (_, i) => Buffer.alloc(64 * 1024, i));
    expect(await feed(spool, chunks)).toBeGreaterThan(0);
    await ended(spool);
    expect(spool.written).toBe(256 * 64 * 1024);
    spool.release(spool.written);
    p.close();
  });

  it('holds up to 4 MiB before it says wait, and 1 MiB once all spool files together hold 64 MiB', async () => {
    const d = dir();
    const { pool: p } = pool();
    const four = Buffer.alloc(4 * 1024 * 1024, 1);
    const first = new SpoolFile(d, p, () => {}, join(d, 'w0.spool'));
    // Still opening: nothing is written yet, so what is written is held.
    expect(first.write(four.subarray(0, 3 * 1024 * 1024))).toBe(true);
    expect(first.write(four.subarray(0, 1024 * 1024))).toBe(false);
    const others = Array.from({ length: 15 }, (_, i) => new SpoolFile(d, p, () => {}, join(d, `w${i + 1}.spool`)));
    for (const o of others) o.write(four);
    // 64 MiB held in all: a new body's file says wait past 1 MiB.
    const late = new SpoolFile(d, p, () => {}, join(d, 'late.spool'));
    expect(late.write(four.subarray(0, 512 * 1024))).toBe(true);
    expect(late.write(four.subarray(0, 512 * 1024))).toBe(false);
    for (const f of [first, ...others, late]) f.release(0);
    // Released, their queues are no longer held: 4 MiB again.
    const again = new SpoolFile(d, p, () => {}, join(d, 'again.spool'));
    expect(again.write(four.subarray(0, 2 * 1024 * 1024))).toBe(true);
    again.release(0);
    expect(await eventually(() => p.size === 4 && openSpoolFiles(d).length === 4)).toBe(true);
    p.close();
    expect(await eventually(() => openSpoolFiles(d).length === 0)).toBe(true);
  });

  it('an empty body reads back empty', async () => {
    const d = dir();
    const { pool: p } = pool();
    const spool = new SpoolFile(d, p, () => {}, join(d, 'c.spool'));
    await ended(spool);
    expect(spool.written).toBe(0);
    expect((await buffer(spool.read())).length).toBe(0);
    spool.release(0);
    p.close();
  });

  it('a file that cannot be opened reports the error and still calls end back; its budget bytes are given back', async () => {
    const d = dir();
    const { pool: p, given } = pool();
    const errors: string[] = [];
    const spool = new SpoolFile(join(d, 'missing'), p, (e) => errors.push((e as NodeJS.ErrnoException).code ?? ''), join(d, 'missing', 'd.spool'));
    spool.write(Buffer.alloc(1024 * 1024));
    await ended(spool);
    expect(errors).toEqual(['ENOENT']);
    spool.release(1024 * 1024);
    expect(given).toEqual([1024 * 1024]);
    expect(p.size).toBe(0);
  });

  it('a name that exists already is never written into', async () => {
    const d = dir();
    const path = join(d, 'e.spool');
    writeFileSync(path, 'theirs');
    const { pool: p } = pool();
    const errors: string[] = [];
    const spool = new SpoolFile(d, p, (e) => errors.push((e as NodeJS.ErrnoException).code ?? ''), path);
    spool.write(Buffer.alloc(10, 9));
    await ended(spool);
    expect(errors).toEqual(['EEXIST']);
    expect(statSync(path).size).toBe(6);
  });

  it('released while it is opening: once the open completes it goes to the pool, or is closed', async () => {
    const d = dir();
    const { pool: keep } = pool();
    const { pool: none } = pool({ maxFiles: 0 });
    for (let i = 0; i < 20; i++) {
      const spool = new SpoolFile(d, i % 2 ? keep : none, () => {}, join(d, `f${i}.spool`));
      spool.write(Buffer.alloc(4096));
      expect(spool.pending).toBe(true);
      spool.release(4096);
    }
    expect(await eventually(() => readdirSync(d).length === 0 && keep.size === 4)).toBe(true);
    expect(await eventually(() => openSpoolFiles(d).length === 4)).toBe(true);
    keep.close();
    expect(await eventually(() => openSpoolFiles(d).length === 0)).toBe(true);
  });

  it('released mid-write: end is called back; the file goes to the pool only once the write in flight is done', async () => {
    const d = dir();
    const { pool: p } = pool();
    const spool = new SpoolFile(d, p, () => {}, join(d, 'g.spool'));
    await eventually(() => !spool.pending);
    for (let i = 0; i < 16; i++) spool.write(Buffer.alloc(64 * 1024, i));
    let done = false;
    spool.end(() => (done = true));
    spool.release(1024 * 1024);
    expect(done).toBe(true);
    expect(p.size).toBe(0);
    spool.write(Buffer.alloc(10));
    expect(await eventually(() => p.size === 1)).toBe(true);
    p.close();
  });

  // SECURITY: a reused file still holds the last body's bytes past the new body's end.
  it('the next body gets the file and writes it from the start; a shorter body reads back as itself, never the last body\'s tail', async () => {
    const d = dir();
    const { pool: p } = pool();
    const first = await spooled(d, p, 'h1.spool', [Buffer.alloc(3 * 1024 * 1024, 0x41)]);
    first.release(first.written);
    expect(p.size).toBe(1);
    const second = new SpoolFile(d, p, () => {}, join(d, 'h2.spool'));
    expect(second.reused).toBe(3 * 1024 * 1024);
    expect(second.pending).toBe(false);
    expect(p.size).toBe(0);
    const body = Buffer.alloc(700 * 1024 + 3, 0x42);
    await feed(second, [body]);
    await ended(second);
    const back = await buffer(second.read());
    expect(back.length).toBe(body.length);
    expect(back.includes(0x41)).toBe(false);
    expect(openSpoolFiles(d)).toHaveLength(1);
    second.release(second.reused);
    p.close();
  });

  it('a resend reading the file keeps it from the pool until the read is closed', async () => {
    const d = dir();
    const { pool: p } = pool();
    const spool = await spooled(d, p, 'i.spool', [Buffer.alloc(2 * 1024 * 1024, 7)]);
    const reader = spool.read();
    spool.release(spool.written);
    await tick();
    expect(p.size).toBe(0);
    expect((await buffer(reader)).length).toBe(2 * 1024 * 1024);
    expect(await eventually(() => p.size === 1)).toBe(true);
    p.close();
  });
});
