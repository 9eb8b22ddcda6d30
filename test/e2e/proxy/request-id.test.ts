import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';

describe('X-Request-Id', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ kinds: ['akool'] });
  });
  afterAll(() => h.close());

  it('is taken from the client, sent upstream, returned, and in the request’s log lines', async () => {
    const res = await request(h.url).get('/akool/x').set('X-Request-Id', 'req-abc-123').expect(200);
    expect(res.headers['x-request-id']).toBe('req-abc-123');
    expect(h.vendors.akool.seen.at(-1)!.headers['x-request-id']).toBe('req-abc-123');
    const line = h.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.reqId === 'req-abc-123');
    expect(line).toBeDefined();
  });

  it('is made when absent (or not a sane value)', async () => {
    const res = await request(h.url).get('/akool/x').set('X-Request-Id', 'bad id with spaces').expect(200);
    const id = res.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    expect(h.vendors.akool.seen.at(-1)!.headers['x-request-id']).toBe(id);
  });

  it('is in the warning when an expired-token request cannot be resent', async () => {
    const small = await startHarness({ kinds: ['akool'], top: { replay: { maxBytes: 10 } } });
    try {
      await small.get('/akool/warm');
      small.vendors.akool.revokeAll();
      await request(small.url).post('/akool/x').set('X-Request-Id', 'upload-1').send('x'.repeat(100)).expect(200);
      const warn = small.logs.map((l) => JSON.parse(l)).find((l) => l.event === 'retry_skipped');
      expect(warn.reqId).toBe('upload-1');
    } finally {
      await small.close();
    }
  });
});
