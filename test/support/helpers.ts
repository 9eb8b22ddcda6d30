/** Test harness: fake vendors plus a real tokenrelay on port 0, logs captured, all closed after. */
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import { createTokenRelay, type TokenRelay } from '../../src/app.js';
import { compileConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createTracing } from '../../src/telemetry/tracing.js';
import { startFakeVendor, type FakeVendor, type FakeVendorOptions, type VendorKind } from './fakes/vendor.js';

export const PREFIX: Record<VendorKind, string> = { akool: '/akool', hitem3d: '/hitem3d', 'baidu-aiob': '/baidu-aiob' };

export interface Harness {
  url: string;
  relay: TokenRelay;
  vendors: Record<VendorKind, FakeVendor>;
  logs: string[];
  /** undici client for concurrent requests (its own pool, closed with the harness). */
  client: Agent;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; json: any; text: string }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  kinds?: VendorKind[];
  vendor?: FakeVendorOptions;
  /** Extra config per upstream, merged in. */
  upstream?: Partial<Record<VendorKind, Record<string, unknown>>>;
  /** Extra top-level config. */
  top?: Record<string, unknown>;
  /** Runs once the fakes are up, before tokenrelay starts (to make its first fetches fail, say). */
  beforeStart?: (vendors: Record<VendorKind, FakeVendor>) => void;
  /** tokenrelay's onBody hook (the CLI's heap room). */
  onBody?: (bytes: number) => void;
}

export function captureLogs(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(l);
      cb();
    },
  });
  return { lines, stream };
}

interface RequestInit { method?: string; body?: string; headers?: Record<string, string> }

/** One request; the answer's status, headers, text and (when it parses) JSON. */
async function fetchJson(client: Agent, url: string, init: RequestInit = {}) {
  const res = await request(url, { dispatcher: client, method: (init.method ?? 'GET') as 'GET', ...(init.body ? { body: init.body } : {}), headers: init.headers ?? {} });
  const text = await res.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers as Record<string, unknown>, json, text };
}

/**
 * A tokenrelay with the given upstreams config (any auth type), on port 0, logs captured; with
 * `tracing` in `top`, tracing on as the CLI starts it (spans batched for 50 ms).
 */
export async function startRelay(upstreams: Record<string, unknown>, top: Record<string, unknown> = {}, opts: { onBody?: (bytes: number) => void } = {}) {
  const config = compileConfig({ listen: { host: '127.0.0.1', port: 0 }, upstreams, ...top }, { env: { OTEL_BSP_SCHEDULE_DELAY: '50' } });
  const { lines, stream } = captureLogs();
  const tracing = config.tracing && await createTracing(config.tracing, { onDropped: () => {} });
  const relay = createTokenRelay({ config, logger: createLogger({ level: 'debug', destination: stream }), ...(tracing ? { tracing } : {}), ...(opts.onBody ? { onBody: opts.onBody } : {}) });
  const url = `http://127.0.0.1:${(await relay.listen(0)).port}`;
  const client = new Agent();
  return {
    url, relay, logs: lines,
    get: (path: string, init: RequestInit = {}) => fetchJson(client, `${url}${path}`, init),
    async close() {
      await client.close();
      await relay.close(500);
    },
  };
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const kinds = opts.kinds ?? ['akool', 'hitem3d', 'baidu-aiob'];
  const vendors = {} as Record<VendorKind, FakeVendor>;
  for (const k of kinds) vendors[k] = await startFakeVendor(k, opts.vendor);
  const upstreams: Record<string, unknown> = {};
  for (const k of kinds) {
    const extra = opts.upstream?.[k] ?? {};
    const { auth: extraAuth, ...rest } = extra as { auth?: Record<string, unknown> };
    upstreams[k] = {
      prefix: PREFIX[k], target: vendors[k].url,
      auth: { type: k, ...vendors[k].credentials, ...(extraAuth ?? {}) },
      ...rest,
    };
  }
  opts.beforeStart?.(vendors);
  const config = compileConfig({ listen: { host: '127.0.0.1', port: 0 }, upstreams, ...opts.top }, { env: {} });
  const { lines, stream } = captureLogs();
  const relay = createTokenRelay({ config, logger: createLogger({ level: 'debug', destination: stream }), ...(opts.onBody ? { onBody: opts.onBody } : {}) });
  const addr = await relay.listen(0);
  const url = `http://127.0.0.1:${addr.port}`;
  const client = new Agent({ connections: 512 });
  return {
    url, relay, vendors, logs: lines, client,
    get: (path, headers = {}) => fetchJson(client, `${url}${path}`, { headers }),
    async close() {
      await client.close();
      await relay.close(1000);
      await Promise.all(Object.values(vendors).map((v) => v.close()));
    },
  };
}
