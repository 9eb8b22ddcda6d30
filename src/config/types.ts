/**
 * What a compiled config is: the plan every part reads, made once at start (load.ts) and
 * frozen. Types only, so every part can name them without importing the loader.
 */
import type { ExpiredWhen, ProviderSpec } from './providers.js';

/** How a request body is kept for the resend after an expired token (replay.ts). */
export interface ReplayLimits {
  memoryBytes: number;
  maxBytes: number;
  /** The spool files of all requests at once, together (the emptyDir's sizeLimit is under it). */
  maxSpoolBytes: number;
  spoolDir: string;
}

export interface UpstreamPlan {
  name: string;
  prefix: string;
  target: URL;
  /** The target's own path ('' or '/base'), put before the rest of the client's path. */
  basePath: string;
  provider: ProviderSpec;
  /** Undefined for `static` (no token endpoint). */
  tokenUrl: URL | undefined;
  /** The header and what goes around the token in it (compiled from the inject template). */
  inject: { header: string; prefix: string; suffix: string };
  expiredWhen: ExpiredWhen;
  /** Credential values by name, or undefined when any is missing. SECURITY: never log this. */
  credentials: Readonly<Record<string, string>> | undefined;
  /** What is missing, naming variables or files, never values. */
  missing: string[];
  /** Which credentials are present (names only), for `check` and the start log. */
  present: string[];
  ca: string | undefined;
  timeoutMs: number;
  tokenTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Calls this upstream forwards; undefined: all. */
  allow: { method: string; path: string }[] | undefined;
}

export interface InboundPlan {
  /** SECURITY: accepted client keys; never logged. Empty: every request is refused (fail closed). */
  keys: string[];
  /** Lowercase header name. */
  header: string;
  /** Keys configured but unset (variables or files), by name. */
  missing: string[];
}

export type TokenCachePlan =
  | { type: 'memory' }
  | {
    type: 'redis'; url?: string; options?: Record<string, unknown>;
    cluster?: { nodes: Array<string | { host: string; port: number }>; options?: Record<string, unknown> };
    keyPrefix: string;
    /** SECURITY: the encryption key. Never logged. */
    key: Buffer;
  };

export interface RelayConfig {
  listen: { host: string; port: number };
  logLevel: string | undefined;
  upstreams: UpstreamPlan[];
  replay: ReplayLimits;
  limits: {
    maxBodyBytes: number;
    maxConcurrentPerUpstream: number;
    maxQueuePerUpstream: number;
    maxHeaderBytes: number;
    maxHeaderCount: number;
    headersTimeout: number;
    clientBodyTimeout: number;
    maxConnections: number;
    inspectBytes: number;
  };
  inbound: InboundPlan | undefined;
  /** CIDRs of peers whose forwarding headers are kept. */
  trustForwardedFrom: string[];
  admin: { host: string; port: number } | undefined;
  readiness: { requireTokens: boolean };
  reload: { watch: boolean; intervalMs: number };
  tokenCache: TokenCachePlan;
  gracePeriodMs: number;
  /** Files this config reads (secrets, CAs, keys): a change to any of them triggers a reload. */
  files: string[];
}
