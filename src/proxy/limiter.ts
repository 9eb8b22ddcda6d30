/**
 * At most `max` requests in flight per upstream; up to `queue` more wait in order; past that,
 * 503 OVERLOADED at once. A waiter whose client leaves gives up its place.
 */
import { TokenRelayError } from '../util/errors.js';
import type { AbortLike } from '../util/abort.js';

export interface Limiter {
  /** A release function when a slot is free now, else undefined (then use acquire()). */
  tryAcquire(): (() => void) | undefined;
  /** Resolves with a release function once a slot is free; rejects OVERLOADED when the queue is full. */
  acquire(signal?: AbortLike): Promise<() => void>;
  readonly active: number;
  readonly waiting: number;
}

export function createLimiter({ max, queue, upstream }: { max: number; queue: number; upstream: string }): Limiter {
  let active = 0;
  const waiters: Array<{ grant: (release: () => void) => void }> = [];

  function release(): void {
    const next = waiters.shift();
    if (next) next.grant(once());
    else active--;
  }
  function once(): () => void {
    let done = false;
    return () => {
      if (!done) {
        done = true;
        release();
      }
    };
  }

  function tryAcquire(): (() => void) | undefined {
    if (active >= max) return undefined;
    active++;
    return once();
  }

  return {
    get active() {
      return active;
    },
    get waiting() {
      return waiters.length;
    },
    tryAcquire,
    acquire(signal) {
      const granted = tryAcquire();
      if (granted) return Promise.resolve(granted);
      if (waiters.length >= queue) {
        return Promise.reject(new TokenRelayError('OVERLOADED', `more than ${max} requests in flight and ${queue} waiting`, { upstream }));
      }
      return new Promise((resolve, reject) => {
        const w = { grant: resolve };
        waiters.push(w);
        signal?.addEventListener('abort', () => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new TokenRelayError('BAD_REQUEST', 'client left while queued', { upstream }));
          }
        });
      });
    },
  };
}
