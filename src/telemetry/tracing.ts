/**
 * Traces (OpenTelemetry, OTLP over HTTP): a server span per request, continuing an incoming W3C
 * `traceparent`; a client span per upstream attempt, whose context goes upstream; a span per
 * token fetch, linked from every request that waited on it. The SDK is loaded only when tracing
 * is on; off, the hot path holds `undefined` and pays a property check.
 * SECURITY: attributes are chosen here, one by one: never a token, key, secret, query or body.
 * Export never blocks a request: spans are batched; a collector that fails drops them (counted).
 */
import type { IncomingMessage } from 'node:http';
import type { Attributes, Context, Span, SpanContext } from '@opentelemetry/api';
import type { OtlpSettings } from './otlp-export.js';

/** What tracing needs of the config (config/types.ts's TracingPlan has this shape). */
export interface TracingSettings extends OtlpSettings {
  sampler: { parentBased: boolean; ratio: number };
  serviceName: string;
  resource: Readonly<Record<string, string>>;
  exportDelayMs: number;
}

/** One request's server span. */
export interface RequestTrace {
  /** A client span for one upstream attempt; its context is written into `headers` (traceparent). */
  attempt(n: number, method: string, target: URL, path: string, headers: Record<string, string | string[]>, resendReason?: string): AttemptTrace;
  /** The request waited on this token fetch. */
  waitedFor(link: unknown): void;
  set(attributes: Attributes): void;
  event(name: string, attributes?: Attributes): void;
  end(status: number, errorCode: string | undefined): void;
}

export interface AttemptTrace {
  end(status: number | undefined, errorCode?: string): void;
}

/** One token fetch; `link` is what waiting requests link to. */
export interface FetchTrace {
  link: unknown;
  end(outcome: 'success' | 'failure', attributes?: { lifetimeSource?: string | undefined; errorCode?: string | undefined }): void;
}

export interface Tracing {
  /** The request's server span, or undefined when it is not sampled (nothing recorded, nothing added). */
  request(req: IncomingMessage, method: string, path: string): RequestTrace | undefined;
  tokenFetch(upstream: string, tenant: string | undefined, reason: string, tokenUrl: URL | undefined): FetchTrace;
  /** Flushes what is batched (bounded) and stops. */
  shutdown(): Promise<void>;
}

const REASON = 'tokenrelay.token.reason';
/** W3C traceparent, version 00: its flags (the sampled bit) in group 1. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-([0-9a-f]{2})$/;

export async function createTracing(plan: TracingSettings, { onDropped }: { onDropped: (spans: number) => void }): Promise<Tracing> {
  const api = await import('@opentelemetry/api');
  const sdk = await import('@opentelemetry/sdk-trace-base');
  const { createOtlpExporter } = await import('./otlp-export.js');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');

  // The sampling decision is taken before any span exists (sampled() below), so a request that is
  // not sampled costs a header check and a random number, not a span, a context and an injection:
  // through the SDK's own sampler, unsampled requests cost 15 % of a request's CPU. Token
  // fetches, rare and what requests link to, are always kept; everything that reaches the SDK is.
  const sampler = new sdk.AlwaysOnSampler();
  // Spans a collector did not take are dropped, and counted: a dead collector changes nothing else.
  const exporter = await createOtlpExporter(plan, { onDropped });
  const provider = new sdk.BasicTracerProvider({
    sampler,
    resource: resourceFromAttributes({ ...plan.resource, 'service.name': plan.serviceName }),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter, { scheduledDelayMillis: plan.exportDelayMs, maxQueueSize: 4096, maxExportBatchSize: 512 })],
  });
  const tracer = provider.getTracer('tokenrelay');
  const propagator = new W3CTraceContextPropagator();
  const { SpanKind, SpanStatusCode, ROOT_CONTEXT, trace, defaultTextMapGetter } = api;
  const setter = { set: (carrier: Record<string, string | string[]>, key: string, value: string) => void (carrier[key] = value) };

  function attemptTrace(parent: Context, n: number, method: string, target: URL, path: string, headers: Record<string, string | string[]>, resendReason?: string): AttemptTrace {
    const span = tracer.startSpan(method, {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': method, 'server.address': target.hostname, 'server.port': Number(target.port) || (target.protocol === 'https:' ? 443 : 80),
        'url.path': path.split('?')[0]!, 'tokenrelay.attempt': n,
      },
    }, parent);
    if (resendReason) span.addEvent('resend', { 'tokenrelay.resend.reason': resendReason });
    // The client's own trace headers are replaced by this attempt's (the trace continues through
    // us). Unset rather than deleted (undici skips undefined values): `delete` would turn the
    // headers object into a slow dictionary for everything that reads it afterwards.
    (headers as Record<string, unknown>).traceparent = undefined;
    (headers as Record<string, unknown>).tracestate = undefined;
    propagator.inject(trace.setSpan(parent, span), headers, setter);
    return {
      end(status, errorCode) {
        if (status !== undefined) span.setAttribute('http.response.status_code', status);
        if (errorCode || (status ?? 0) >= 400) {
          span.setAttribute('error.type', errorCode ?? String(status));
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
      },
    };
  }

  const { parentBased, ratio } = plan.sampler;
  /** Parent-based: an incoming trace's own flag decides; else (or with no parent) the ratio. */
  function sampled(traceparent: string | string[] | undefined): boolean {
    if (parentBased && typeof traceparent === 'string') {
      const m = TRACEPARENT.exec(traceparent);
      if (m) return (parseInt(m[1]!, 16) & 1) === 1;
    }
    return ratio >= 1 || (ratio > 0 && Math.random() < ratio);
  }

  return {
    request(req, method, path) {
      if (!sampled(req.headers.traceparent)) return undefined;
      const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
      const span: Span = tracer.startSpan(method, {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': method, 'url.path': path, 'url.scheme': 'http' },
      }, parent);
      const ctx = trace.setSpan(parent, span);
      const linked = new Set<unknown>();
      return {
        attempt: (n, m, target, p, headers, resendReason) => attemptTrace(ctx, n, m, target, p, headers, resendReason),
        waitedFor(link) {
          if (!link || linked.has(link)) return;
          linked.add(link);
          span.addLink({ context: link as SpanContext, attributes: { 'tokenrelay.link': 'token_fetch' } });
        },
        set(attributes) {
          span.setAttributes(attributes);
          const route = attributes['http.route'];
          if (typeof route === 'string') span.updateName(`${method} ${route}`);
        },
        event: (name, attributes) => void span.addEvent(name, attributes),
        end(status, errorCode) {
          span.setAttribute('http.response.status_code', status);
          if (errorCode) span.setAttribute('error.type', errorCode);
          else if (status >= 500) span.setAttribute('error.type', String(status));
          if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        },
      };
    },
    tokenFetch(upstream, tenant, reason, tokenUrl) {
      const span = tracer.startSpan('token fetch', {
        kind: SpanKind.CLIENT,
        attributes: {
          [REASON]: reason, 'tokenrelay.upstream': upstream, ...(tenant ? { 'tokenrelay.tenant': tenant } : {}),
          ...(tokenUrl ? { 'server.address': tokenUrl.hostname } : {}),
        },
      }, ROOT_CONTEXT);
      return {
        link: span.spanContext(),
        end(outcome, a = {}) {
          span.setAttribute('tokenrelay.token.outcome', outcome);
          if (a.lifetimeSource) span.setAttribute('tokenrelay.token.lifetime_source', a.lifetimeSource);
          if (a.errorCode) {
            span.setAttribute('error.type', a.errorCode);
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
          span.end();
        },
      };
    },
    async shutdown() {
      await Promise.race([provider.shutdown(), new Promise((r) => setTimeout(r, 3000).unref())]).catch(() => {});
    },
  };
}
