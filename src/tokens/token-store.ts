/**
 * Where one process keeps its tokens (node-cache, no clones: entries are immutable), and the
 * clock token lifetimes are measured with. Both come into a token source as arguments, so tests
 * drive them.
 */
import NodeCache from 'node-cache';
import type { CachedToken } from './shared-cache.js';

export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/** The small interface a token store implements (memory now; a shared store later). */
export interface TokenStore {
  get(key: string): CachedToken | undefined;
  set(key: string, value: CachedToken, ttlMs: number): void;
  del(key: string): void;
  close(): void;
}

export function memoryStore(): TokenStore {
  // useClones: false: entries are immutable objects, and cloning per request would cost.
  const cache = new NodeCache({ useClones: false, checkperiod: 0 });
  return {
    get: (key) => cache.get<CachedToken>(key),
    set: (key, value, ttlMs) => void cache.set(key, value, Math.max(1, Math.ceil(ttlMs / 1000))),
    del: (key) => void cache.del(key),
    close: () => cache.close(),
  };
}
