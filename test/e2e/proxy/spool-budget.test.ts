/**
 * replay.maxSpoolBytes bounds the spool files of all requests at once (a Kubernetes emptyDir
 * that outgrows its sizeLimit gets the pod evicted): past it a body streams on without a replay
 * copy, logged with its reason, and nothing is left on disk.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

const KiB = 1024;

describe('replay.maxSpoolBytes', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const post = (body: Buffer) => request(`${h!.url}/hitem3d/open-api/v1/upload`, {
    method: 'POST', body, headers: { 'content-type': 'application/octet-stream' }, dispatcher: h!.client,
  });

  it('a body whose spool would pass the budget streams through without a replay copy (logged: spool_full)', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tr-budget-'));
    h = await startHarness({ kinds: ['hitem3d'], top: { replay: { memoryBytes: '64KiB', maxBytes: '16MiB', maxSpoolBytes: '512KiB', spoolDir } } });
    await (await post(Buffer.from('warm'))).body.text();
    h.vendors.hitem3d.revokeAll();
    const big = Buffer.alloc(2048 * KiB, 3);
    const res = await post(big);
    const json = (await res.body.json()) as { code: number };
    expect(json.code).toBe(401); // the vendor's expired answer, passed through: no copy to resend
    expect(h.vendors.hitem3d.seen.at(-1)!.body!.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    expect(h.logs.some((l) => l.includes('"event":"retry_skipped"') && l.includes('"reason":"spool_full"'))).toBe(true);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('a body that fits the budget is spooled and resent, and its share is given back', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tr-budget-'));
    h = await startHarness({ kinds: ['hitem3d'], top: { replay: { memoryBytes: '64KiB', maxBytes: '16MiB', maxSpoolBytes: '512KiB', spoolDir } } });
    await (await post(Buffer.from('warm'))).body.text();
    for (let i = 0; i < 3; i++) {
      // Three in a row, each 400 KiB on disk: only fits if each gives its share back.
      h.vendors.hitem3d.revokeAll();
      const body = Buffer.alloc(464 * KiB, i);
      const json = (await (await post(body)).body.json()) as { code: number; data: { sha256: string } };
      expect(json.code).toBe(200);
      expect(json.data.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    }
    expect(h.vendors.hitem3d.counts.tokenFetches).toBe(4);
    expect(readdirSync(spoolDir)).toEqual([]);
  });
});
