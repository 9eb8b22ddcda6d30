/**
 * What a tenant's limits are and what checking them answers. Counting happens in counters
 * (local.ts in this process, redis.ts for a fleet); this file is the vocabulary both speak.
 */
import type { QuotaPeriod } from './windows.js';

export interface RateSpec {
  /** Tokens added per second, continuously. */
  perSecond: number;
  /** Bucket size: how many calls may come at once after a quiet spell. */
  burst: number;
}

export interface LimitSpec {
  /** Whose limits (the tenant's name): the key of every counter. */
  name: string;
  rate?: RateSpec | undefined;
  concurrent?: number | undefined;
  quota?: { requests: number; per: QuotaPeriod } | undefined;
}

export type RefusalReason = 'rate' | 'concurrency' | 'quota';

export interface Refused {
  ok: false;
  reason: RefusalReason;
  /** When trying again makes sense. */
  retryAfterMs: number;
}

export interface Admitted {
  ok: true;
  /** Gives the concurrency slot back (a no-op without a concurrency limit); safe to call twice. */
  release(): void;
}

export type Admission = Admitted | Refused;

/** What is known of a tenant's quota (the last count seen), for /readyz. */
export interface QuotaView {
  requests: number;
  per: QuotaPeriod;
  used: number;
  remaining: number;
  resetsInSeconds: number;
}

export interface Counters {
  /** Counts one call against every limit of `spec` at once, or refuses without counting. */
  admit(spec: LimitSpec): Admission | Promise<Admission>;
  /** Reserves the next slot of a pacing rate: ms to wait before the call may go (0: now). */
  reserve(key: string, rate: RateSpec): number | Promise<number>;
  quota(spec: LimitSpec): QuotaView | undefined;
}

export const noop = (): void => {};

/** An admission with nothing to give back (no concurrency limit): one object for all. */
export const ADMITTED: Admitted = Object.freeze({ ok: true as const, release: noop });

/** A limit as a fraction of itself (a replica's share of the fleet's), never below 1. */
export function share(n: number, of: number): number {
  return Math.max(1, Math.floor(n / Math.max(1, of)));
}
