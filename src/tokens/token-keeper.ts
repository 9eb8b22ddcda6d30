/**
 * Keeps tokens in hand without traffic, for `readiness.requireTokens`: in Kubernetes no request
 * reaches an unready pod, so a token fetch that failed at start must be tried again by itself
 * (with the token source's backoff), and a token must be refreshed ahead of expiry even when
 * nothing calls, or an idle pod would turn unready when its token ages out.
 */
import type { TokenProvider } from './token-cache.js';

/** The longest pause between two looks (a reload may bring new upstreams). */
const MAX_WAIT_MS = 30_000;
const MIN_WAIT_MS = 50;

export interface TokenKeeper {
  stop(): void;
}

export function keepTokens(providers: () => Iterable<TokenProvider>): TokenKeeper {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const busy = new Set<TokenProvider>();

  function schedule(): void {
    if (stopped) return;
    clearTimeout(timer);
    let wait = MAX_WAIT_MS;
    for (const p of providers()) if (!busy.has(p) && p.dueInMs) wait = Math.min(wait, p.dueInMs());
    timer = setTimeout(tick, Math.max(MIN_WAIT_MS, wait));
    timer.unref();
  }

  function tick(): void {
    if (stopped) return;
    for (const p of providers()) {
      if (busy.has(p) || !p.dueInMs || !p.warm || p.dueInMs() > 0) continue;
      busy.add(p);
      // Failures are the token source's to count, log and back off from; here, only the next look.
      p.warm().catch(() => {}).finally(() => {
        busy.delete(p);
        schedule();
      });
    }
    schedule();
  }

  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
