/**
 * Maps a request target to `{upstream, rest}` by whole path segments. Knows nothing of tokens.
 * The rest of the path and the query are returned byte-for-byte: no decoding, no re-encoding.
 */
export interface Route<U> {
  upstream: U;
  /** Path after the prefix plus the query, always starting with `/`. */
  rest: string;
}

export function createRouter<U extends { prefix: string }>(upstreams: readonly U[]) {
  // Longest prefix first; compiled once.
  const table = [...upstreams].sort((a, b) => b.prefix.length - a.prefix.length).map((u) => ({ u, p: u.prefix, n: u.prefix.length }));

  return function route(url: string): Route<U> | undefined {
    for (const { u, p, n } of table) {
      if (!url.startsWith(p)) continue;
      const next = url.charCodeAt(n);
      if (url.length === n) return { upstream: u, rest: '/' };
      if (next === 47 /* / */) return { upstream: u, rest: url.slice(n) };
      if (next === 63 /* ? */) return { upstream: u, rest: `/${url.slice(n)}` };
    }
    return undefined;
  };
}
