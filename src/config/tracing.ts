/**
 * `tracing`, with the standard OpenTelemetry environment variables as every SDK reads them
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME,
 * OTEL_TRACES_SAMPLER(_ARG), OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_SCHEDULE_DELAY, OTEL_SDK_DISABLED, and
 * OTEL_EXPORTER_OTLP(_TRACES)_ TIMEOUT, PROTOCOL, COMPRESSION, HEADERS, CERTIFICATE, CLIENT_CERTIFICATE,
 * CLIENT_KEY, the traces-only one first);
 * what the file says wins. Resolved once here, so nothing reads the environment per request.
 */
import type { RawConfig } from './schema.js';
import { accessSync, constants } from 'node:fs';
import type { TracingPlan } from './types.js';

const PROTOCOLS = ['http/json', 'http/protobuf'] as const;
const COMPRESSIONS = ['gzip', 'none'] as const;
const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;

export function planTracing(raw: RawConfig['tracing'], env: NodeJS.ProcessEnv, problems: string[]): TracingPlan | undefined {
  const fromEnv = env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true';
  const tracesUrl = fromEnv ? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() : undefined;
  const base = raw?.endpoint ?? (fromEnv ? env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() : undefined);
  // The file's endpoint (or the general variable) is the collector's base; /v1/traces is added
  // as the OTLP/HTTP specification says. The traces-only variable is used as it is.
  const url = raw?.endpoint !== undefined ? traces(raw.endpoint) : tracesUrl || (base ? traces(base) : undefined);
  if (!url) return undefined;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    problems.push(`${raw?.endpoint !== undefined ? 'tracing.endpoint' : 'OTEL_EXPORTER_OTLP_ENDPOINT'}: expected an http(s) URL, got "${url}"`);
    return undefined;
  }
  let sampler: TracingPlan['sampler'] = { parentBased: true, ratio: 1 };
  if (raw?.sampleRatio !== undefined) sampler = { parentBased: true, ratio: raw.sampleRatio };
  else if (env.OTEL_TRACES_SAMPLER) {
    const name = env.OTEL_TRACES_SAMPLER.trim().toLowerCase() as (typeof SAMPLERS)[number];
    if (!SAMPLERS.includes(name)) problems.push(`OTEL_TRACES_SAMPLER: expected ${SAMPLERS.join(' | ')}, got "${env.OTEL_TRACES_SAMPLER}"`);
    const arg = env.OTEL_TRACES_SAMPLER_ARG === undefined ? 1 : Number(env.OTEL_TRACES_SAMPLER_ARG);
    if (name.endsWith('traceidratio') && !(arg >= 0 && arg <= 1)) problems.push(`OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got "${env.OTEL_TRACES_SAMPLER_ARG}"`);
    const ratio = name.endsWith('always_off') ? 0 : name.endsWith('traceidratio') ? arg : 1;
    sampler = { parentBased: name.startsWith('parentbased_'), ratio };
  }
  const resource = parsePairs(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const delay = Number(env.OTEL_BSP_SCHEDULE_DELAY ?? 5000);
  const otlp = (name: string): [string, string] | undefined => {
    for (const key of [`OTEL_EXPORTER_OTLP_TRACES_${name}`, `OTEL_EXPORTER_OTLP_${name}`]) {
      const v = env[key]?.trim();
      if (v) return [key, v];
    }
    return undefined;
  };
  /** One of `allowed`, else a problem naming the variable (and the fallback). */
  const choice = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const v = otlp(name);
    if (!v) return fallback;
    if (allowed.includes(v[1] as T)) return v[1] as T;
    problems.push(`${v[0]}: expected ${allowed.join(' | ')}, got "${v[1]}"`);
    return fallback;
  };
  const timeout = Number(otlp('TIMEOUT')?.[1] ?? 10_000);
  const file = (name: string): string | undefined => {
    const f = otlp(name);
    if (!f) return undefined;
    try {
      accessSync(f[1], constants.R_OK);
    } catch {
      problems.push(`${f[0]}: cannot read "${f[1]}"`);
    }
    return f[1];
  };
  return {
    url,
    sampler,
    serviceName: raw?.serviceName ?? env.OTEL_SERVICE_NAME ?? resource['service.name'] ?? 'tokenrelay',
    resource,
    exportDelayMs: Number.isFinite(delay) && delay >= 0 ? delay : 5000,
    exportTimeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 10_000,
    protocol: choice('PROTOCOL', PROTOCOLS, 'http/json'),
    compression: choice('COMPRESSION', COMPRESSIONS, 'none'),
    // SECURITY: a collector's API key travels here; the plan is never logged.
    headers: parsePairs(otlp('HEADERS')?.[1] ?? ''),
    tls: { ca: file('CERTIFICATE'), cert: file('CLIENT_CERTIFICATE'), key: file('CLIENT_KEY') },
  };
}

function traces(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** `key=value,key2=value2`, values percent-encoded (the W3C Baggage octet rules). */
function parsePairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    try {
      out[decodeURIComponent(pair.slice(0, i).trim())] = decodeURIComponent(pair.slice(i + 1).trim());
    } catch {
      // A malformed pair is skipped, as the SDKs do.
    }
  }
  return out;
}
