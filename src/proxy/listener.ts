/**
 * The client-facing HTTP server and what protects it from clients that never finish: a head
 * must be complete within `limits.headersTimeout` (408), at most `limits.maxHeaderCount` header
 * lines (431, checked per request: Node would cut the rest silently), at most
 * `limits.maxConnections` connections at once (past it new ones are closed at once and counted),
 * and parse errors answered with coded errors.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { RelayConfig } from '../config/types.js';
import { TokenRelayError, type ErrorCode } from '../util/errors.js';
import type { Logger } from '../telemetry/logger.js';

/** Node's parse and timeout errors, before any request exists, as coded answers. */
const CLIENT_ERRORS: Record<string, [ErrorCode, string]> = {
  HPE_HEADER_OVERFLOW: ['HEADERS_TOO_LARGE', 'the request head is larger than limits.maxHeaderBytes'],
  // Methods Node's parser does not know (TRACK…): not proxied.
  HPE_INVALID_METHOD: ['METHOD_NOT_ALLOWED', 'this method is not proxied'],
  ERR_HTTP_REQUEST_TIMEOUT: ['REQUEST_TIMEOUT', 'the request head was not complete within limits.headersTimeout'],
};

/** The soft limit on open descriptors (Linux /proc), or undefined where it cannot be read. */
export function descriptorLimit(read: (p: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(read('/proc/self/limits'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How many client connections to allow: the configured number, but never more than the
 * descriptor limit leaves once upstream connections (every upstream's pool and token
 * connections), spool files, the admin port and the logs have theirs.
 */
export function connectionCap(config: Pick<RelayConfig, 'limits' | 'upstreams'>, fdLimit: number | undefined): number {
  const { maxConnections, maxConcurrentPerUpstream } = config.limits;
  if (fdLimit === undefined) return maxConnections;
  const reserve = config.upstreams.length * (maxConcurrentPerUpstream + 4) + 64;
  return Math.max(1, Math.min(maxConnections, fdLimit - reserve));
}

/** More header lines than allowed (Node was told to keep one more than the limit, so it shows). */
export function tooManyHeaders(req: IncomingMessage, max: number): TokenRelayError | undefined {
  return req.rawHeaders.length / 2 > max
    ? new TokenRelayError('HEADERS_TOO_LARGE', `the request has more than limits.maxHeaderCount (${max}) header lines`)
    : undefined;
}

export function createListener(config: RelayConfig, handle: RequestListener, { logger, onDrop }: { logger: Logger; onDrop: () => void }): Server {
  const { limits } = config;
  const server = createServer({
    // No overall request deadline (uploads and event streams are long); the head has its own.
    requestTimeout: 0,
    headersTimeout: limits.headersTimeout,
    // How often Node looks for heads past their deadline (its default, 30 s, would double it).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeout / 2)),
    keepAliveTimeout: 5_000,
    maxHeaderSize: limits.maxHeaderBytes,
  }, handle);
  server.maxHeadersCount = limits.maxHeaderCount + 1;
  const cap = connectionCap(config, descriptorLimit());
  server.maxConnections = cap;
  if (cap < limits.maxConnections) {
    logger.warn({ event: 'max_connections_capped', configured: limits.maxConnections, effective: cap }, 'limits.maxConnections lowered to what the open-files limit leaves room for');
  }
  server.on('drop', onDrop);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const [code, message] = CLIENT_ERRORS[err.code ?? ''] ?? ['BAD_REQUEST', 'malformed request'];
    socket.end(new TokenRelayError(code, message).toRawResponse());
  });
  return server;
}
