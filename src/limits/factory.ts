/**
 * The counters a config asks for: in this process (memory token cache, or no limits that need
 * counting), or in the fleet's Redis. ioredis is loaded only then (~24 MB of resident memory).
 */
import type { RelayConfig } from '../config/types.js';
import type { Logger } from '../telemetry/logger.js';
import { fleetCounters, memoryCounters, type CountersHandle } from './fleet.js';

export function needsCounting(config: RelayConfig): boolean {
  return config.tenants.some((t) => t.limits.rate || t.limits.concurrent !== undefined || t.limits.quota)
    || config.upstreams.some((u) => u.rateLimit);
}

export async function createCounters(config: RelayConfig, { logger }: { logger: Logger }): Promise<CountersHandle> {
  const tc = config.tokenCache;
  if (tc.type !== 'redis' || !needsCounting(config)) return memoryCounters();
  const { Redis, Cluster } = await import('ioredis');
  const { redisCounters } = await import('./redis.js');
  // As the token cache's connection: fail fast while disconnected (a request never waits on an
  // unreachable Redis). Auto-pipelining: checks from concurrent requests share round trips.
  const common = {
    enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000,
    retryStrategy: (times: number) => Math.min(times * 200, 2000), enableAutoPipelining: true,
  };
  const client = tc.cluster
    ? new Cluster(tc.cluster.nodes, { ...tc.cluster.options, enableAutoPipelining: true, redisOptions: { ...common, ...(tc.cluster.options?.redisOptions as object | undefined) } })
    : tc.url ? new Redis(tc.url, { ...common, ...tc.options }) : new Redis({ ...common, ...tc.options });
  let up = false;
  client.on('ready', () => (up = true));
  for (const e of ['error', 'close', 'end']) client.on(e, () => (up = false));
  // The first connection is awaited (bounded), so a fleet that starts does not count locally
  // just because Redis had not answered yet.
  await new Promise<void>((resolve) => {
    client.once('ready', () => resolve());
    client.once('error', () => resolve());
    setTimeout(resolve, 2500).unref();
  });
  const redis = redisCounters({ client, keyPrefix: tc.keyPrefix });
  const handle = fleetCounters({ redis, connected: () => up, logger });
  return { ...handle, close: () => { handle.close(); client.disconnect(); } };
}
