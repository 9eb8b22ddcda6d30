/**
 * What a compiled config is: the plan every part reads, made once at start (load.ts) and
 * frozen. Types only, so every part can name them without importing the loader.
 */
import type { ExpiredWhen, ProviderSpec } from './providers.js';

export type QuotaPeriod = 'minute' | 'hour' | 'day' | 'month';

/** A token bucket: calls a second, refilled continuously, and how many may come at once. */
export interface RatePlan {
  perSecond: number;
  burst: number;
}

/** What an upstream's (or a tenant's own) credentials came to: values, or what is missing. */
export interface CredentialsPlan {
  /** SECURITY: never log this. Undefined when any is missing. */
  values: Readonly<Record<string, string>> | undefined;
  /** What is missing, naming variables or files, never values. */
  missing: string[];
  /** Which credentials are present (names only). */
  present: string[];
}

export interface TenantPlan {
  name: string;
  /** SECURITY: the tenant's client keys; never logged. */
  keys: string[];
  /** Keys configured but unset (variables or files), by name. */
  missingKeys: string[];
  /** Upstreams it may call; undefined: all. */
  upstreams: string[] | undefined;
  /** Per upstream, rules that narrow that upstream's allow-list for this tenant. */
  allow: Readonly<Record<string, { method: string; path: string }[]>>;
  /** Per upstream, the tenant's own vendor account (never the upstream's, never another tenant's). */
  credentials: Readonly<Record<string, CredentialsPlan>>;
  limits: { rate: RatePlan | undefined; concurrent: number | undefined; quota: { requests: number; per: QuotaPeriod } | undefined };
}

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
  /** Pacing to the vendor's own limit (rateLimit); undefined: none. */
  rateLimit: RatePlan | undefined;
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

/** Tracing (OpenTelemetry, OTLP over HTTP), resolved from the file and the OTEL_* variables. */
export interface TracingPlan {
  /** Where spans go: the collector's OTLP/HTTP traces endpoint. */
  url: string;
  /** Sampled at `ratio`; `parentBased`: an incoming trace's own decision is kept. */
  sampler: { parentBased: boolean; ratio: number };
  serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES. */
  resource: Readonly<Record<string, string>>;
  /** How long spans wait in the batch before export (OTEL_BSP_SCHEDULE_DELAY). */
  exportDelayMs: number;
  /** How long one export may take, retries included (OTEL_EXPORTER_OTLP_TIMEOUT). */
  exportTimeoutMs: number;
  /** OTEL_EXPORTER_OTLP_PROTOCOL: http/json (the default, as the JS OTLP/HTTP exporter) or http/protobuf. */
  protocol: 'http/json' | 'http/protobuf';
  /** OTEL_EXPORTER_OTLP_COMPRESSION. */
  compression: 'gzip' | 'none';
  /** OTEL_EXPORTER_OTLP_HEADERS (may hold a collector's API key: never logged). */
  headers: Readonly<Record<string, string>>;
  /** OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY: PEM file paths. */
  tls: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined };
}

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
  /** Inbound authentication: on with inbound.apiKeys or any tenant. */
  inbound: InboundPlan | undefined;
  tenants: TenantPlan[];
  /** Undefined: tracing off. */
  tracing: TracingPlan | undefined;
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
