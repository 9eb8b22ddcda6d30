/**
 * Calls to a vendor, kept to its own limits: an upstream's `rateLimit` paces calls (each waits
 * for its slot, up to `limits.maxQueuePerUpstream` waiting, then 503 OVERLOADED), and a vendor's
 * own 429 with Retry-After stops calls with that credential until then (429
 * UPSTREAM_RATE_LIMITED at once) rather than hammering a vendor that said stop.
 */
import { TokenRelayError } from '../util/errors.js';
import type { AbortLike } from '../util/abort.js';
import type { Counters, RateSpec } from './policy.js';

export interface Pacer {
  /** Resolves when the call may go; rejects OVERLOADED when too many wait already. */
  wait(signal?: AbortLike): Promise<void>;
  readonly waiting: number;
}

export function createPacer({ key, rate, counters, maxQueue, upstream }: {
  key: string; rate: RateSpec; counters: () => Counters; maxQueue: number; upstream: string;
}): Pacer {
  let waiting = 0;
  return {
    get waiting() {
      return waiting;
    },
    async wait(signal) {
      if (waiting >= maxQueue) throw new TokenRelayError('OVERLOADED', `${waiting} calls already wait for upstreams.${upstream}.rateLimit`, { upstream });
      waiting++;
      try {
        const ms = await counters().reserve(key, rate);
        if (ms > 0) await sleep(ms, signal, upstream);
      } finally {
        waiting--;
      }
    },
  };
}

function sleep(ms: number, signal: AbortLike | undefined, upstream: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new TokenRelayError('BAD_REQUEST', 'client left while paced', { upstream }));
    });
  });
}

/** Until when each credential's vendor asked for a pause. */
export class Cooldowns {
  private readonly until = new Map<string, number>();
  constructor(private readonly now: () => number = Date.now) {}
  note(key: string, ms: number): void {
    this.until.set(key, Math.max(this.until.get(key) ?? 0, this.now() + ms));
  }
  /** ms left of a pause, 0 when none. */
  remaining(key: string): number {
    if (this.until.size === 0) return 0;
    const u = this.until.get(key);
    if (u === undefined) return 0;
    const left = u - this.now();
    if (left <= 0) this.until.delete(key);
    return Math.max(0, left);
  }
}
