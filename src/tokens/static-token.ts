/** `type: static`: a fixed key, injected as it is. */
import type { TokenProvider } from './token-cache.js';

/** `type: static`: a fixed secret; nothing to fetch, refresh or expire. */
export class StaticToken implements TokenProvider {
  constructor(readonly upstream: string, private readonly value: string) {}
  get(): Promise<string> {
    return Promise.resolve(this.value);
  }
  current(): string {
    return this.value;
  }
  renew(): Promise<string> {
    return Promise.resolve(this.value);
  }
  status() {
    return { state: 'valid' as const, expiresInSeconds: null, lastError: null };
  }
}
