import { describe, expect, it } from 'vitest';
import { TokenRelayError } from '../../../src/util/errors.js';
import { TokenSource } from '../../../src/tokens/token-cache.js';
import { memoryStore } from '../../../src/tokens/token-store.js';
import { keepTokens } from '../../../src/tokens/token-keeper.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('token keeper (readiness.requireTokens)', () => {
  it('fetches a missing token at once, retries a failure after its backoff, refreshes ahead with no traffic', async () => {
    let n = 0;
    let failing = 2;
    const store = memoryStore();
    const src = new TokenSource({
      upstream: 'u', store, skewMs: 0, backoffBaseMs: 100, backoffMaxMs: 200, quickRetryMs: 10,
      fetch: async () => {
        n++;
        if (failing-- > 0) throw new TokenRelayError('TOKEN_FETCH_FAILED', 'token endpoint answered HTTP 500', { transient: true });
        // 600 ms tokens: refreshed ahead at 80 %, 480 ms after each fetch.
        return { token: `t${n}`, lifetimeMs: 600, lifetimeSource: 'answer' };
      },
    });
    const keeper = keepTokens(() => [src]);
    try {
      // First fetch and its quick retry fail; the backoff's retry succeeds, without any get().
      for (let i = 0; i < 200 && src.status().state !== 'valid'; i++) await sleep(25);
      expect(src.status().state).toBe('valid');
      expect(n).toBe(3);
      // Kept valid past its lifetime by refreshes ahead, with no caller at all.
      for (let i = 0; i < 100 && n < 5; i++) await sleep(25);
      expect(n).toBeGreaterThanOrEqual(5);
      await sleep(700); // longer than a token lives: still valid, refreshed again meanwhile
      expect(src.status().state).toBe('valid');
    } finally {
      keeper.stop();
      store.close();
    }
    const after = n;
    await sleep(700);
    expect(n).toBe(after);
  });
});
