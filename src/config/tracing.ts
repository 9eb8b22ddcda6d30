/**
 * `tracing`, with the standard OpenTelemetry environment variables as every SDK reads them
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME,
 * OTEL_TRACES_SAMPLER(_ARG), OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP(_TRACES)_TIMEOUT,
 * OTEL_SDK_DISABLED);
 * what the file says wins. Resolved once here, so nothing reads the environment per request.
 */
import type { RawConfig } from './schema.js';
import type { TracingPlan } from './types.js';

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
  const resource = parseResource(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const delay = Number(env.OTEL_BSP_SCHEDULE_DELAY ?? 5000);
  const timeout = Number(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT ?? 10_000);
  return {
    url,
    sampler,
    serviceName: raw?.serviceName ?? env.OTEL_SERVICE_NAME ?? resource['service.name'] ?? 'tokenrelay',
    resource,
    exportDelayMs: Number.isFinite(delay) && delay >= 0 ? delay : 5000,
    exportTimeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 10_000,
  };
}

function traces(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** `key=value,key2=value2`, values percent-encoded (the W3C Baggage octet rules). */
function parseResource(text: string): Record<string, string> {
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
