/**
 * The token cache shared by a fleet, on Redis (ioredis: single node, Sentinel or Cluster).
 * Tokens are stored AES-256-GCM encrypted with their remaining life as TTL. One fetch for the
 * whole fleet: a lock per upstream (SET NX PX, a unique value, renewed while a slow fetch
 * runs, released only by its holder); the others wait for the holder's result (pub/sub, with
 * bounded polling as a fallback) and never fetch while the lock is live. An expired-token
 * answer deletes the shared token only if it is still the rejected one (Lua compare-and-delete).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';
import { TokenRelayError } from '../util/errors.js';
import type { Logger } from '../telemetry/logger.js';
import { createSecretBox } from '../util/secret-box.js';
import { SharedCacheUnavailable, type CachedToken, type SharedTokenCache } from './shared-cache.js';

export interface RedisCacheOptions {
  url?: string;
  options?: RedisOptions;
  cluster?: { nodes: Array<string | { host: string; port: number }>; options?: ClusterOptions };
  keyPrefix: string;
  key: Buffer;
  logger: Logger;
  /** How long a lock lives without renewal; renewed every third of it while the fetch runs. */
  leaseMs?: number;
  /** How long a waiter waits for another replica's fetch before trying itself. */
  waitMs?: number;
  pollMs?: number;
  onState?: (up: boolean) => void;
}

const COMPARE_DEL = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const COMPARE_PEXPIRE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
// Values are "<fingerprint>.<sealed>": the fingerprint lets Redis compare without the token.
const DEL_IF_FINGERPRINT = `local v = redis.call('GET', KEYS[1]) if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;


export function createRedisCache(opts: RedisCacheOptions): SharedTokenCache {
  const { keyPrefix, logger, leaseMs = 15_000, waitMs = 30_000, pollMs = 150 } = opts;
  const box = createSecretBox(opts.key);
  // Fail fast while disconnected: a request must never wait on an unreachable Redis.
  const common: RedisOptions = {
    enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000), lazyConnect: false,
  };
  const make = (): Redis | Cluster => (opts.cluster
    ? new Cluster(opts.cluster.nodes, { ...opts.cluster.options, redisOptions: { ...common, ...opts.cluster.options?.redisOptions } })
    : opts.url ? new Redis(opts.url, { ...common, ...opts.options }) : new Redis({ ...common, ...opts.options }));
  const client = make();
  const sub = make();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const channel = `${keyPrefix}events`;
  let up = false;
  let everUp = false;

  const setUp = (v: boolean) => {
    if (v === up) return;
    up = v;
    if (v) logger.info({ event: 'token_cache_up', type: 'redis' }, everUp ? 'redis is back: shared token cache in use again' : 'shared token cache (redis) connected');
    // SECURITY: never the URL (it may carry a password).
    else logger.warn({ event: 'token_cache_down', type: 'redis' }, 'redis unreachable: falling back to the in-memory token cache');
    everUp ||= v;
    opts.onState?.(v);
  };
  // The first connection attempt is awaited (bounded) before going local: a fleet that starts
  // cold must not fetch once per replica just because Redis had not answered yet.
  let settled = false;
  const firstContact = new Promise<void>((resolve) => {
    const done = () => {
      settled = true;
      resolve();
    };
    client.once('ready', done);
    client.once('error', done);
    setTimeout(done, 2500).unref();
  });
  client.on('ready', () => setUp(true));
  client.on('error', () => setUp(false));
  client.on('end', () => setUp(false));
  client.on('close', () => setUp(false));
  sub.on('error', () => {});
  sub.on('ready', () => void sub.subscribe(channel).catch(() => {}));
  sub.on('message', (_ch: string, msg: string) => {
    const i = msg.indexOf('|');
    if (i > 0) events.emit(msg.slice(0, i), msg.slice(i + 1));
  });

  const tokenKey = (scope: string) => `${keyPrefix}token:${scope}`;
  const lockKey = (scope: string) => `${keyPrefix}lock:${scope}`;

  async function store<T>(op: () => Promise<T>): Promise<T> {
    if (!up && !settled) await firstContact;
    if (!up) throw new SharedCacheUnavailable('redis is not connected');
    try {
      return await op();
    } catch (err) {
      throw new SharedCacheUnavailable(`redis: ${(err as Error).message}`);
    }
  }

  async function read(scope: string): Promise<CachedToken | undefined> {
    const v = await store(() => client.get(tokenKey(scope)));
    if (!v) return undefined;
    const dot = v.indexOf('.');
    const plain = dot > 0 ? box.open(v.slice(dot + 1), tokenKey(scope)) : undefined;
    if (plain === undefined) throw new SharedCacheUnavailable('the shared token does not decrypt with this encryptionKey');
    return JSON.parse(plain) as CachedToken;
  }

  /** Waits for the lock holder's outcome: its token, its error, or the lock vanishing. */
  async function waitForHolder(scope: string, isFresh: (e: CachedToken) => boolean, deadline: number): Promise<CachedToken | 'retry'> {
    while (Date.now() < deadline) {
      const msg = await new Promise<string | undefined>((resolve) => {
        const on = (m: string) => {
          clearTimeout(t);
          resolve(m);
        };
        const t = setTimeout(() => {
          events.off(scope, on);
          resolve(undefined);
        }, pollMs);
        events.once(scope, on);
      });
      if (msg?.startsWith('fail|')) throw new TokenRelayError('TOKEN_FETCH_FAILED', msg.slice(5));
      const e = await read(scope);
      if (e && isFresh(e)) return e;
      if ((await store(() => client.pttl(lockKey(scope)))) < 0) return 'retry';
    }
    throw new TokenRelayError('TOKEN_FETCH_FAILED', 'timed out waiting for another replica\'s token fetch', { transient: true });
  }

  async function holdAndFetch(scope: string, lock: string, fetch: () => Promise<CachedToken>, isFresh: (e: CachedToken) => boolean): Promise<CachedToken> {
    const renew = setInterval(() => {
      client.eval(COMPARE_PEXPIRE, 1, lockKey(scope), lock, leaseMs).catch(() => {});
    }, leaseMs / 3);
    try {
      const again = await read(scope); // someone may have finished just before we locked
      if (again && isFresh(again)) return again;
      let entry: CachedToken;
      try {
        entry = await fetch();
      } catch (err) {
        if (err instanceof TokenRelayError) await client.publish(channel, `${scope}|fail|${err.message}`).catch(() => {});
        throw err;
      }
      // Best effort from here: the token is ours whatever Redis does now.
      const ttl = Math.max(1, Math.floor(entry.expiresAt - Date.now()));
      const value = `${box.fingerprint(entry.token)}.${box.seal(JSON.stringify(entry), tokenKey(scope))}`;
      await client.set(tokenKey(scope), value, 'PX', ttl).catch(() => {});
      await client.publish(channel, `${scope}|ok`).catch(() => {});
      return entry;
    } finally {
      clearInterval(renew);
      await client.eval(COMPARE_DEL, 1, lockKey(scope), lock).catch(() => {});
    }
  }

  return {
    type: 'redis',
    get available() {
      return up || !settled;
    },
    async obtain(scope, fetch, isFresh, callerWaitMs = waitMs) {
      const deadline = Date.now() + Math.min(waitMs, callerWaitMs);
      for (;;) {
        const e = await read(scope);
        if (e && isFresh(e)) return e;
        const lock = randomBytes(16).toString('hex');
        const got = await store(() => client.set(lockKey(scope), lock, 'PX', leaseMs, 'NX'));
        if (got === 'OK') return holdAndFetch(scope, lock, fetch, isFresh);
        const r = await waitForHolder(scope, isFresh, deadline);
        if (r !== 'retry') return r;
      }
    },
    async invalidate(scope, token) {
      await store(() => client.eval(DEL_IF_FINGERPRINT, 1, tokenKey(scope), `${box.fingerprint(token)}.`));
    },
    scopeOf(upstream, credentials) {
      return `${upstream}:${box.fingerprint(JSON.stringify(Object.entries(credentials).sort()))}`;
    },
    status: () => ({ type: 'redis', state: up ? 'up' : 'down' }),
    async close() {
      client.disconnect();
      sub.disconnect();
    },
  };
}
