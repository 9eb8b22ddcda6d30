/** Reads a dotted path (`data.accessToken`) out of parsed JSON; undefined when absent. */
export function readPath(value: unknown, path: string): unknown {
  let cur = value;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** True when `value` equals one of `candidates`, numbers and numeric strings alike (200 == "200"). */
export function codeMatches(value: unknown, candidates: readonly (string | number)[]): boolean {
  if (typeof value !== 'string' && typeof value !== 'number') return false;
  const s = String(value).trim();
  for (const c of candidates) if (String(c) === s) return true;
  return false;
}
