/** The contract between a token source and a cache shared by many tokenrelay processes. */

/** A token as cached, here and in the shared store. */
export interface CachedToken {
  token: string;
  obtainedAt: number;
  /** Past this (skew already subtracted) the token is not served. */
  expiresAt: number;
  /** Past this, a request triggers a background refresh while the token still serves. */
  refreshAt: number;
  lifetimeMs: number;
}


/** The shared store cannot be used right now: callers fall back to their own memory cache. */
export class SharedCacheUnavailable extends Error {
  readonly code = 'SHARED_CACHE_UNAVAILABLE';
}

export interface SharedTokenCache {
  readonly type: string;
  /** False while the store is unreachable (callers go local at once instead of waiting). */
  readonly available: boolean;
  /**
   * A token for `scope` that satisfies `isFresh`: the shared one, or one obtained by exactly
   * one caller across the fleet (`fetch`), the others waiting for it. Throws the fetch's own
   * error, or SharedCacheUnavailable when the store failed. A waiter waits at most `waitMs`
   * (the caller's token timeout) for another process's fetch.
   */
  obtain(scope: string, fetch: () => Promise<CachedToken>, isFresh: (e: CachedToken) => boolean, waitMs?: number): Promise<CachedToken>;
  /** Drops the shared token only if it is still `token` (compare-and-delete). */
  invalidate(scope: string, token: string): Promise<void>;
  /** A keyed, non-reversible digest of an upstream's credentials: tokens are shared per credentials. */
  scopeOf(upstream: string, credentials: Readonly<Record<string, string>>): string;
  status(): { type: string; state: 'up' | 'down' };
  close(): Promise<void>;
}
