import { describe, expect, it } from 'vitest';
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { UpstreamAnswer } from '../../../src/proxy/upstream-call.js';

/** A dispatcher that answers with the given head and body chunks, as undici calls a handler. */
function answering(chunks: Buffer[]): Dispatcher {
  return {
    dispatch(_opts: unknown, h: { onConnect(a: () => void): void; onHeaders(s: number, raw: Buffer[], r: () => void): boolean; onData(c: Buffer): boolean; onComplete(t: null): void }) {
      h.onConnect(() => {});
      h.onHeaders(200, [Buffer.from('content-type'), Buffer.from('application/octet-stream')], () => {});
      setImmediate(() => {
        for (const c of chunks) h.onData(c);
        h.onComplete(null);
      });
      return true;
    },
  } as unknown as Dispatcher;
}

describe('upstream answer piped to the client', () => {
  it('writes no empty chunk (each was a write(2) of nothing on the client socket)', async () => {
    const signal = { aborted: false, addEventListener() {} };
    const answer = await UpstreamAnswer.send(answering([Buffer.alloc(10, 1), Buffer.alloc(0), Buffer.alloc(5, 2), Buffer.alloc(0)]), { path: '/', method: 'GET' }, signal, () => 0);
    const writes: number[] = [];
    const ended = new Promise<void>((resolve) => {
      const res = { write: (c: Buffer) => (writes.push(c.length), true), end: () => resolve(), on() {}, destroy() {} } as unknown as ServerResponse;
      answer.pipeTo(res);
    });
    await ended;
    expect(writes).toEqual([10, 5]);
  });
});
