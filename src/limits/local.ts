/**
 * Limits counted in this process: a token bucket refilled continuously, calls in flight, and a
 * calendar quota, per tenant; GCRA pacing per key. Alone it is the whole count (memory token
 * cache); behind the fleet's Redis it is the fallback, where every limit is this replica's share
 * (the limit divided by the live replicas last seen) and a quota goes on from its last count.
 */
import { ADMITTED, share, type Admission, type Counters, type LimitSpec, type QuotaView, type RateSpec } from './policy.js';
import { quotaWindow } from './windows.js';

interface State {
  tokens: number;
  at: number;
  inflight: number;
  windowId: string;
  used: number;
  /** The fleet's count when this window's counting moved here (the fallback's starting point). */
  seeded: number;
}

export interface LocalCounters extends Counters {
  admit(spec: LimitSpec): Admission;
  reserve(key: string, rate: RateSpec): number;
  /** The fleet's last count of a tenant's quota window (so a fallback goes on from there). */
  seedQuota(name: string, windowId: string, used: number): void;
}

export function localCounters({ now, divisor = () => 1 }: { now: () => number; divisor?: () => number }): LocalCounters {
  const states = new Map<string, State>();
  const tats = new Map<string, number>();
  const state = (name: string): State => {
    let s = states.get(name);
    if (!s) states.set(name, (s = { tokens: Number.POSITIVE_INFINITY, at: now(), inflight: 0, windowId: '', used: 0, seeded: 0 }));
    return s;
  };

  return {
    admit(spec) {
      const s = state(spec.name);
      const t = now();
      const n = divisor();
      let tokens = 0;
      if (spec.rate) {
        const perSecond = spec.rate.perSecond / n;
        const burst = share(spec.rate.burst, n);
        tokens = Math.min(burst, s.tokens + (Math.max(0, t - s.at) * perSecond) / 1000);
        s.tokens = tokens;
        s.at = t;
        if (tokens < 1) return { ok: false, reason: 'rate', retryAfterMs: Math.ceil(((1 - tokens) * 1000) / perSecond) };
      }
      if (spec.concurrent !== undefined && s.inflight >= share(spec.concurrent, n)) {
        return { ok: false, reason: 'concurrency', retryAfterMs: 1000 };
      }
      let window: ReturnType<typeof quotaWindow> | undefined;
      if (spec.quota) {
        window = quotaWindow(spec.quota.per, t);
        if (s.windowId !== window.id) {
          s.windowId = window.id;
          s.used = 0;
          s.seeded = 0;
        }
        const cap = n <= 1 ? spec.quota.requests : s.seeded + Math.floor((spec.quota.requests - s.seeded) / n);
        if (s.used >= cap) return { ok: false, reason: 'quota', retryAfterMs: window.endsAt - t };
      }
      if (spec.rate) s.tokens = tokens - 1;
      if (spec.quota) s.used++;
      if (spec.concurrent === undefined) return ADMITTED;
      s.inflight++;
      let held = true;
      return {
        ok: true,
        release() {
          if (held) {
            held = false;
            s.inflight--;
          }
        },
      };
    },
    reserve(key, rate) {
      // GCRA: the theoretical arrival time moves one interval per call; a call may go once it
      // is within `burst` intervals of now.
      const t = now();
      const interval = 1000 / rate.perSecond;
      const tat = Math.max(tats.get(key) ?? t, t) + interval;
      tats.set(key, tat);
      return Math.max(0, Math.ceil(tat - rate.burst * interval - t));
    },
    seedQuota(name, windowId, used) {
      const s = state(name);
      if (s.windowId === windowId && s.used >= used) return;
      s.windowId = windowId;
      s.used = used;
      s.seeded = used;
    },
    quota(spec) {
      if (!spec.quota) return undefined;
      const s = states.get(spec.name);
      const t = now();
      const w = quotaWindow(spec.quota.per, t);
      const used = s && s.windowId === w.id ? s.used : 0;
      return view(spec.quota, used, w.endsAt - t);
    },
  };
}

export function view(quota: NonNullable<LimitSpec['quota']>, used: number, msLeft: number): QuotaView {
  return { requests: quota.requests, per: quota.per, used, remaining: Math.max(0, quota.requests - used), resetsInSeconds: Math.ceil(msLeft / 1000) };
}
