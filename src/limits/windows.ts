/**
 * Quota windows: calendar periods in UTC (a monthly quota resets at 00:00 UTC on the 1st, as
 * vendors' and billing systems' do), not rolling ones. Each has an id (the key of its counter)
 * and its end (when the counter may go, and what Retry-After says once it is used up).
 */
export type QuotaPeriod = 'minute' | 'hour' | 'day' | 'month';

export interface QuotaWindow {
  /** Stable for the whole window: `2026-12`, `2026-12-02`, `2026-12-02T03`, `2026-12-02T03:47`. */
  id: string;
  endsAt: number;
}

export function quotaWindow(per: QuotaPeriod, nowMs: number): QuotaWindow {
  const d = new Date(nowMs);
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  const day = d.getUTCDate();
  const h = d.getUTCHours();
  const mi = d.getUTCMinutes();
  const iso = d.toISOString();
  switch (per) {
    case 'month': return { id: iso.slice(0, 7), endsAt: Date.UTC(y, mo + 1, 1) };
    case 'day': return { id: iso.slice(0, 10), endsAt: Date.UTC(y, mo, day + 1) };
    case 'hour': return { id: iso.slice(0, 13), endsAt: Date.UTC(y, mo, day, h + 1) };
    case 'minute': return { id: iso.slice(0, 16), endsAt: Date.UTC(y, mo, day, h, mi + 1) };
  }
}

/** The window's nominal length in seconds (a month as 30 days), for RateLimit-Policy's `w`. */
export const PERIOD_SECONDS: Record<QuotaPeriod, number> = { minute: 60, hour: 3600, day: 86_400, month: 30 * 86_400 };
