/**
 * The fleet's counters with a way down: Redis while it answers; when it does not, this
 * replica's own counts at its share of each limit (the limit divided by the live replicas it
 * last saw), a quota going on from the fleet's last count. Logged once each way; nothing else
 * fails, as with the token cache.
 */
import type { Logger } from '../telemetry/logger.js';
import { localCounters } from './local.js';
import { share, type Admission, type Counters, type LimitSpec, type RateSpec } from './policy.js';
import type { RedisCounters } from './redis.js';
import { quotaWindow } from './windows.js';

export interface CountersHandle extends Counters {
  status(): { type: 'memory' | 'redis'; state: 'up' | 'down' };
  close(): void;
}

export function memoryCounters(now: () => number = Date.now): CountersHandle {
  const local = localCounters({ now });
  return { ...local, status: () => ({ type: 'memory', state: 'up' }), close() {} };
}

export function fleetCounters({ redis, connected, logger, now = Date.now }: {
  redis: RedisCounters; connected: () => boolean; logger: Logger; now?: () => number;
}): CountersHandle {
  const local = localCounters({ now, divisor: () => redis.replicas() });
  let down = false;
  const seeded = new Set<string>();

  function fellBack(err?: unknown): void {
    if (down) return;
    down = true;
    seeded.clear();
    logger.warn({ event: 'limits_fallback', replicas: redis.replicas(), reason: (err as Error | undefined)?.message ?? 'redis is not connected' },
      'redis unreachable: tenant and upstream limits counted by this replica, at its share');
  }
  function cameBack(): void {
    if (!down) return;
    down = false;
    logger.info({ event: 'limits_shared' }, 'redis is back: limits counted for the fleet again');
  }
  function admitLocally(spec: LimitSpec): Admission {
    if (spec.quota && !seeded.has(spec.name)) {
      seeded.add(spec.name);
      const last = redis.lastQuota(spec.name);
      if (last && last.windowId === quotaWindow(spec.quota.per, now()).id) local.seedQuota(spec.name, last.windowId, last.used);
    }
    return local.admit(spec);
  }

  return {
    admit(spec) {
      if (!connected()) {
        fellBack();
        return admitLocally(spec);
      }
      // A leased rate answers at once (no promise); the rest asks Redis.
      const a = redis.admit(spec);
      if (!(a instanceof Promise)) return a;
      return a.then((x) => {
        cameBack();
        return x;
      }, (err: unknown) => {
        fellBack(err);
        return admitLocally(spec);
      });
    },
    async reserve(key: string, rate: RateSpec) {
      // This replica's share of the pace, as for every other limit.
      const mine = () => local.reserve(key, { perSecond: rate.perSecond / redis.replicas(), burst: share(rate.burst, redis.replicas()) });
      if (!connected()) return mine();
      try {
        return await redis.reserve(key, rate);
      } catch (err) {
        fellBack(err);
        return mine();
      }
    },
    quota: (spec) => (down ? local.quota(spec) : redis.quota(spec)),
    status: () => ({ type: 'redis', state: down ? 'down' : 'up' }),
    close: () => redis.close(),
  };
}
