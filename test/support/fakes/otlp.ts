/**
 * An OpenTelemetry collector's OTLP/HTTP traces endpoint: decodes what the exporter sends (JSON,
 * gzip or not; protobuf is kept raw, for grepping). `answers` scripts the statuses of the next
 * exports (a 429/503 with Retry-After: 0), then 200.
 */
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
  /** Every export's headers, in order. */
  requests: Array<Record<string, string | string[] | undefined>>;
  /**
   * Answers for the next exports (taken in order), 200 when empty: a status (sent once the body
   * is read, with Retry-After: 0), or `{ early }`: that status at once, before the body is
   * read, and the connection closed, as nginx does with a 413.
   */
  answers: Array<number | { early: number }>;
  close(): Promise<void>;
}

interface KV { key: string; value: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number } }
const attrs = (kvs: KV[] = []) => Object.fromEntries(kvs.map((a) => [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value.boolValue ?? a.value.doubleValue)]));

export async function startFakeCollector(): Promise<FakeCollector> {
  const spans: ExportedSpan[] = [];
  const raw: string[] = [];
  const requests: FakeCollector['requests'] = [];
  const answers: FakeCollector['answers'] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.headers);
    const next = answers[0];
    if (typeof next === 'object') {
      answers.shift();
      res.writeHead(next.early, { connection: 'close' });
      return void res.end();
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const text = body.toString('utf8');
      raw.push(text);
      const status = (answers.shift() as number | undefined) ?? 200;
      if (status === 204) return void res.writeHead(204).end();
      if (status !== 200) {
        res.writeHead(status, { 'retry-after': '0' });
        return void res.end();
      }
      if (req.headers['content-type'] === 'application/x-protobuf') {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        return void res.end();
      }
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
  return { url, spans, raw, requests, answers, close };
}
