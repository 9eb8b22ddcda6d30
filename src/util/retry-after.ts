/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as ms from `now`, capped at an
 * hour; 0 for "now" (`0`); undefined when absent, malformed or in the past. Read from vendors'
 * 429s (limits/pacing.ts) and from a collector's 429/503 (telemetry/otlp-export.ts).
 */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  const ms = /^\s*\d+\s*$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 3_600_000) : undefined;
}
