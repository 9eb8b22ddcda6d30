/** Sizes (`1MiB`, `512kB`, `1024`) and durations (`500ms`, `10s`, `5m`) as config accepts them. */

const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseWithUnits(input: unknown, units: Record<string, number>, bare: number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input * bare : undefined;
  if (typeof input !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  if (!m) return undefined;
  const unit = m[2]!.toLowerCase();
  const factor = unit === '' ? bare : units[unit];
  if (factor === undefined) return undefined;
  return Math.round(Number(m[1]) * factor);
}

/** Bytes from a number or a string such as `256MiB`; undefined when it is not one. */
export function parseSize(input: unknown): number | undefined {
  return parseWithUnits(input, SIZE_UNITS, 1);
}

/** Milliseconds from a number (taken as ms) or a string such as `10s`; undefined when it is not one. */
export function parseDuration(input: unknown): number | undefined {
  return parseWithUnits(input, DURATION_UNITS, 1);
}
