/**
 * Owns token lifetimes for one upstream: serve the cached token, refresh it ahead of expiry in
 * the background, keep at most one fetch in flight (a shared promise), drop only the token a
 * vendor rejected, and back off after failures. Clock, store and fetch come in as arguments.
 */
import { TokenRelayError } from '../util/errors.js';
import { SharedCacheUnavailable, type CachedToken, type SharedTokenCache } from './shared-cache.js';
import type { TokenGrant } from './token-answer.js';
import { systemClock, type Clock, type TokenStore } from './token-store.js';

export type { CachedToken };

export type FetchReason = 'cold' | 'ahead' | 'expired';
export interface FetchEvent {
  upstream: string;
  /** Set for a tenant's own account (its own token). */
  tenant?: string;
  reason: FetchReason;
  outcome: 'success' | 'failure';
  durationMs: number;
  lifetimeMs?: number;
  lifetimeSource?: TokenGrant['lifetimeSource'];
  error?: TokenRelayError;
}

export interface TokenSourceOptions {
  upstream: string;
  /** A tenant's own account: its own cache entry (`key`) and its name on fetch events. */
  tenant?: string;
  /** The token store's key; default: the upstream's name. */
  key?: string;
  /** One token fetch, given at most `timeoutMs` (the remaining budget on the quick retry). */
  fetch: (timeoutMs: number) => Promise<TokenGrant>;
  /**
   * How long a caller waits for a fetch, quick retry included (the upstream's `tokenTimeout`):
   * the retry runs only when the first failure left time for it, and gets what is left.
   */
  timeoutMs?: number;
  store: TokenStore;
  clock?: Clock;
  random?: () => number;
  onFetch?: (event: FetchEvent) => void;
  /** Subtracted from a token's lifetime (at most 10% of it) so clock skew never serves a dead token. */
  skewMs?: number;
  /** Fraction of the lifetime after which a request triggers a background refresh. */
  refreshAheadRatio?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Pause before the one quick retry of a transient failure within a fetch (requests are waiting). */
  quickRetryMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Traces each fetch (a span that waiting requests link to); absent: tracing off. */
  trace?: (reason: string) => FetchTraceLike;
  /** A cache shared with other tokenrelay processes, and this upstream's scope in it. */
  shared?: SharedTokenCache;
  scope?: string;
  onSharedError?: (err: Error) => void;
}

export type TokenState = 'valid' | 'none' | 'failing';

/** A fetch's trace (telemetry/tracing.ts's FetchTrace has this shape). */
export interface FetchTraceLike {
  link: unknown;
  end(outcome: 'success' | 'failure', attributes?: { lifetimeSource?: string | undefined; errorCode?: string | undefined }): void;
}

/** What the forwarder and /readyz need of a token source. */
export interface TokenProvider {
  readonly upstream: string;
  get(): Promise<string>;
  /** The cached token when one is valid now (what get() would resolve with at once), else undefined. */
  current(): string | undefined;
  /** A token to resend with after `rejected` was refused. */
  renew(rejected: string): Promise<string>;
  status(): { state: TokenState; expiresInSeconds: number | null; lastError: { code: string; message: string } | null };
  /** For the token keeper: ms until a fetch is due (a missing token's next try, or a refresh ahead). */
  dueInMs?(): number;
  /** For the token keeper: fetch now if a fetch is due (the backoff still applies). */
  warm?(): Promise<unknown>;
  /** The trace link of the fetch in flight, if any (requests waiting on it link to it). */
  fetchLink?(): unknown;
}

export class TokenSource implements TokenProvider {
  readonly upstream: string;
  readonly tenant: string | undefined;
  private readonly key: string;
  private readonly opts: Required<Omit<TokenSourceOptions, 'onFetch' | 'shared' | 'scope' | 'onSharedError' | 'tenant' | 'key' | 'trace'>>
    & Pick<TokenSourceOptions, 'onFetch' | 'shared' | 'scope' | 'onSharedError' | 'trace'>;
  private inflightTrace: FetchTraceLike | undefined;
  private lifetimeSource: string | undefined;
  /** Set while the token keeper asks: its fetches are traced as `background`. */
  private background = false;
  private inflight: Promise<string> | undefined;
  private failures = 0;
  private nextAttemptAt = 0;
  private lastError: TokenRelayError | undefined;

  constructor(options: TokenSourceOptions) {
    const {
      clock = systemClock, random = Math.random, skewMs = 30_000, refreshAheadRatio = 0.8, timeoutMs = 10_000,
      backoffBaseMs = 1000, backoffMaxMs = 30_000, quickRetryMs = 200,
      sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()), ...rest
    } = options;
    const { tenant, key, ...others } = rest;
    this.upstream = options.upstream;
    this.tenant = tenant;
    this.key = key ?? options.upstream;
    this.opts = { clock, random, skewMs, refreshAheadRatio, timeoutMs, backoffBaseMs, backoffMaxMs, quickRetryMs, sleep, ...others };
  }

  /** A valid token: the cached one (kicking off a refresh if it is due), or a fresh one. */
  get(): Promise<string> {
    const token = this.current();
    if (token !== undefined) return Promise.resolve(token);
    return this.refresh(this.opts.store.get(this.key) ? 'expired' : 'cold');
  }

  /**
   * The cached token if it is valid now, kicking off a refresh if one is due. Synchronous: the
   * hot path awaits nothing when there is a token (a promise per request showed in the profile).
   */
  current(): string | undefined {
    const now = this.opts.clock.now();
    const cached = this.opts.store.get(this.key);
    if (!cached || now >= cached.expiresAt) return undefined;
    if (now >= cached.refreshAt && !this.inflight && now >= this.nextAttemptAt) {
      // A failed refresh ahead of expiry leaves the current token serving.
      this.refresh('ahead').catch(() => {});
    }
    return cached.token;
  }

  /**
   * After a vendor rejected `rejected`: drop it only if it is still the cached one (another
   * request may already have replaced it), here and in the shared cache, then get a valid
   * token: the replacement, the refresh in flight, or a new fetch.
   */
  renew(rejected: string): Promise<string> {
    const cached = this.opts.store.get(this.key);
    if (cached?.token === rejected) this.opts.store.del(this.key);
    if (cached && cached.token !== rejected) return this.get();
    const { shared, scope } = this.opts;
    if (shared?.available && scope) shared.invalidate(scope, rejected).catch((err: unknown) => this.sharedFailed(err));
    return this.refresh('expired', rejected);
  }

  private refresh(reason: FetchReason, rejected?: string): Promise<string> {
    if (this.inflight) return this.inflight;
    if (this.opts.clock.now() < this.nextAttemptAt && this.lastError) {
      return Promise.reject(this.lastError);
    }
    const t = this.opts.trace?.(this.background ? 'background' : reason);
    this.inflightTrace = t;
    let p = this.fetchOnce(reason, rejected);
    if (t) {
      p = p.then((token) => {
        t.end('success', { lifetimeSource: this.lifetimeSource });
        return token;
      }, (err: unknown) => {
        t.end('failure', { errorCode: (err as { code?: string }).code ?? 'TOKEN_FETCH_FAILED' });
        throw err;
      });
    }
    p = p.finally(() => {
      if (this.inflight === p) {
        this.inflight = undefined;
        this.inflightTrace = undefined;
      }
    });
    this.inflight = p;
    return p;
  }

  fetchLink(): unknown {
    return this.inflight ? this.inflightTrace?.link : undefined;
  }

  private async fetchOnce(reason: FetchReason, rejected: string | undefined): Promise<string> {
    const { clock, store, upstream } = this.opts;
    try {
      const entry = await this.obtain(reason, rejected);
      store.set(this.key, entry, entry.expiresAt - clock.now());
      this.failures = 0;
      this.nextAttemptAt = 0;
      this.lastError = undefined;
      return entry.token;
    } catch (err) {
      const error = err instanceof TokenRelayError ? err : new TokenRelayError('TOKEN_FETCH_FAILED', undefined, { cause: err });
      const coded = new TokenRelayError(error.code, error.message, { upstream });
      this.failures += 1;
      const delay = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (this.failures - 1));
      // Jitter in [delay/2, delay): replicas that failed together don't retry together.
      this.nextAttemptAt = clock.now() + delay / 2 + this.opts.random() * (delay / 2);
      this.lastError = coded;
      throw coded;
    }
  }

  /** A token from the shared cache (one fetch for the fleet) or, without one, our own fetch. */
  private async obtain(reason: FetchReason, rejected: string | undefined): Promise<CachedToken> {
    const { shared, scope, clock } = this.opts;
    if (!shared?.available || !scope) return this.fetchEntry(reason);
    const isFresh = (e: CachedToken) => {
      const now = clock.now();
      return e.token !== rejected && now < e.expiresAt && (reason !== 'ahead' || now < e.refreshAt);
    };
    try {
      return await shared.obtain(scope, () => this.fetchEntry(reason), isFresh, this.opts.timeoutMs);
    } catch (err) {
      if (!(err instanceof SharedCacheUnavailable)) throw err;
      this.sharedFailed(err);
      return this.fetchEntry(reason);
    }
  }

  private sharedFailed(err: unknown): void {
    this.opts.onSharedError?.(err as Error);
  }

  /** One real fetch (with one quick retry of a transient failure), reported through onFetch. */
  private async fetchEntry(reason: FetchReason): Promise<CachedToken> {
    const { clock, upstream } = this.opts;
    const started = clock.now();
    try {
      const { timeoutMs, quickRetryMs } = this.opts;
      let grant: TokenGrant;
      try {
        grant = await this.opts.fetch(timeoutMs);
      } catch (err) {
        // One quick retry of a fast transient failure (a dropped connection, a 5xx) while
        // requests wait, so a single dropped fetch costs a pause, not a failed request. Only
        // within the caller's budget: a fetch that timed out has used it all. Refusals and
        // background refreshes wait for the backoff instead.
        const left = timeoutMs - (clock.now() - started) - quickRetryMs;
        if (reason === 'ahead' || !(err instanceof TokenRelayError) || !err.transient || left <= 0) throw err;
        await this.opts.sleep(quickRetryMs);
        grant = await this.opts.fetch(left);
      }
      const now = clock.now();
      this.lifetimeSource = grant.lifetimeSource;
      const skew = Math.min(this.opts.skewMs, grant.lifetimeMs * 0.1);
      this.opts.onFetch?.({
        upstream, ...(this.tenant ? { tenant: this.tenant } : {}), reason, outcome: 'success', durationMs: now - started,
        lifetimeMs: grant.lifetimeMs, lifetimeSource: grant.lifetimeSource,
      });
      return {
        token: grant.token,
        obtainedAt: now,
        expiresAt: now + grant.lifetimeMs - skew,
        refreshAt: now + grant.lifetimeMs * this.opts.refreshAheadRatio,
        lifetimeMs: grant.lifetimeMs,
      };
    } catch (err) {
      const error = err instanceof TokenRelayError ? err : new TokenRelayError('TOKEN_FETCH_FAILED', undefined, { cause: err });
      this.opts.onFetch?.({ upstream, ...(this.tenant ? { tenant: this.tenant } : {}), reason, outcome: 'failure', durationMs: clock.now() - started, error: new TokenRelayError(error.code, error.message, { upstream }) });
      throw error;
    }
  }

  dueInMs(): number {
    const now = this.opts.clock.now();
    const cached = this.opts.store.get(this.key);
    const at = cached && now < cached.expiresAt ? cached.refreshAt : 0;
    return Math.max(0, Math.max(at, this.nextAttemptAt) - now);
  }

  warm(): Promise<unknown> {
    this.background = true;
    try {
      if (this.current() !== undefined) return this.inflight ?? Promise.resolve();
      return this.get();
    } finally {
      this.background = false;
    }
  }

  /** For /readyz and metrics: never the token itself. */
  status(): { state: TokenState; expiresInSeconds: number | null; lastError: { code: string; message: string } | null } {
    const now = this.opts.clock.now();
    const cached = this.opts.store.get(this.key);
    const valid = cached !== undefined && now < cached.expiresAt;
    return {
      state: valid ? 'valid' : this.lastError ? 'failing' : 'none',
      expiresInSeconds: valid ? Math.round((cached.expiresAt - now) / 1000) : null,
      lastError: this.lastError ? { code: this.lastError.code, message: this.lastError.message } : null,
    };
  }
}
