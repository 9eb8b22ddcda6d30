/** An OpenTelemetry collector's OTLP/HTTP traces endpoint: decodes what the exporter sends (JSON, gzip or not). */
import { createServer, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { listenLoopback } from './listen.js';

type Value = string | number | boolean | undefined;
export interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, Value>;
  events: Array<{ name: string; attributes: Record<string, Value> }>;
  links: Array<{ traceId: string; spanId: string }>;
  resource: Record<string, Value>;
}

export interface FakeCollector {
  url: string;
  spans: ExportedSpan[];
  /** Every request body as received (decompressed): for grepping. */
  raw: string[];
  close(): Promise<void>;
}

interface KV { key: string; value: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number } }
const attrs = (kvs: KV[] = []) => Object.fromEntries(kvs.map((a) => [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value.boolValue ?? a.value.doubleValue)]));

export async function startFakeCollector(): Promise<FakeCollector> {
  const spans: ExportedSpan[] = [];
  const raw: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const text = body.toString('utf8');
      raw.push(text);
      const doc = JSON.parse(text) as { resourceSpans: Array<{ resource?: { attributes?: KV[] }; scopeSpans: Array<{ spans: any[] }> }> };
      for (const rs of doc.resourceSpans) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, kind: s.kind,
              attributes: attrs(s.attributes), events: (s.events ?? []).map((e: any) => ({ name: e.name, attributes: attrs(e.attributes) })),
              links: (s.links ?? []).map((l: any) => ({ traceId: l.traceId, spanId: l.spanId })), resource,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  const { url, close } = await listenLoopback(server);
  return { url, spans, raw, close };
}
