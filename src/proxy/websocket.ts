/**
 * WebSocket upgrades, proxied with the token injected on the upgrade request (browsers cannot
 * set headers on a WebSocket). The handshake goes through the same checks as any request; an
 * expired-token answer to the handshake is refreshed and retried once; after the 101 the two
 * sockets are piped both ways.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { TokenRelayError } from '../util/errors.js';
import type { UpstreamRuntime } from './forwarder.js';
import { upstreamError } from './upstream-call.js';
import { checkTarget, isAllowed } from './guard.js';
import { answerSaysExpired, peekLimit } from './inspect.js';
import { upstreamRequestHeaders } from './headers.js';
import { tooManyHeaders } from './listener.js';
import { requestIdFrom } from './respond.js';
import type { Logger } from '../telemetry/logger.js';
import type { RelayConfig } from '../config/types.js';
import type { Route } from './router.js';
import type { Caller } from './guard.js';
import { refusalError, tenantAccount, type TenantRuntime } from './tenancy.js';
import type { Counters } from '../limits/policy.js';

/** What an upgrade reads of the running config (the app's Runtime has it). */
export interface UpgradeRuntime {
  config: Pick<RelayConfig, 'limits' | 'inbound'>;
  route(url: string): Route<UpstreamRuntime> | undefined;
  inboundCheck: ((req: IncomingMessage) => TokenRelayError | Caller) | undefined;
  trusted: ((ip: string | undefined) => boolean) | undefined;
  tenants?: ReadonlyMap<string, TenantRuntime>;
}

function refuse(socket: Duplex, err: TokenRelayError): void {
  socket.end(err.toRawResponse());
}

function head(status: number, message: string, raw: string[]): string {
  let s = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) s += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${s}\r\n`;
}

/** Reads up to `limit` bytes of a refused handshake's answer (0: nothing); the rest stays unread. */
function readSmall(res: IncomingMessage, limit: number): Promise<{ chunks: Buffer[]; ended: boolean } | undefined> {
  if (limit <= 0) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (ended: boolean) => {
      res.off('data', onData);
      res.off('end', onEnd);
      res.off('error', reject);
      if (!ended) res.pause();
      resolve({ chunks, ended });
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > limit) done(false);
    };
    const onEnd = () => done(true);
    res.on('data', onData);
    res.once('end', onEnd);
    res.once('error', reject);
  });
}

export function createUpgradeHandler({ runtime, logger, sockets, counters }: {
  runtime: () => UpgradeRuntime; logger: Logger; sockets: Set<Duplex>;
  /** Where tenants' limits are counted; a WebSocket is one call, in flight while it is open. */
  counters?: () => Counters;
}) {
  function connect(up: UpstreamRuntime, req: IncomingMessage, path: string, token: string): Promise<{ res: IncomingMessage; socket?: Duplex; head?: Buffer }> {
    const { plan } = up;
    const rt = runtime();
    const clientIp = req.socket.remoteAddress;
    const headers = upstreamRequestHeaders(req.headers, {
      clientIp, proto: 'http', host: req.headers.host, requestId: requestIdFrom(req.headers['x-request-id']), trusted: rt.trusted?.(clientIp) ?? false,
    }, {
      name: plan.inject.header, value: plan.inject.prefix + token + plan.inject.suffix,
    }, rt.config.inbound?.header);
    headers.connection = 'Upgrade';
    headers.upgrade = 'websocket';
    headers.host = plan.target.host;
    const t = plan.target;
    const send = t.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = send({
        host: t.hostname.replace(/^\[|\]$/g, ''), port: t.port || (t.protocol === 'https:' ? 443 : 80), path, method: 'GET', headers,
        ...(plan.ca ? { ca: plan.ca } : {}), servername: t.hostname, timeout: plan.timeoutMs, agent: false,
      });
      r.once('upgrade', (res, socket, h) => resolve({ res, socket, head: h }));
      r.once('response', (res) => resolve({ res }));
      r.once('timeout', () => r.destroy(Object.assign(new Error('handshake timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' })));
      r.once('error', reject);
      r.end();
    });
  }

  return async function onUpgrade(req: IncomingMessage, client: Duplex, clientHead: Buffer): Promise<void> {
    client.on('error', () => client.destroy());
    const rt = runtime();
    const caller = rt.inboundCheck?.(req);
    const bad = checkTarget(req) ?? tooManyHeaders(req, rt.config.limits.maxHeaderCount) ?? (caller instanceof TokenRelayError ? caller : undefined);
    if (bad) return refuse(client, bad);
    const tenant = typeof caller === 'string' ? rt.tenants?.get(caller) : undefined;
    if (String(req.headers.upgrade).toLowerCase() !== 'websocket') return refuse(client, new TokenRelayError('BAD_REQUEST', 'only WebSocket upgrades are proxied'));
    const matched = rt.route(req.url ?? '/');
    if (!matched) return refuse(client, new TokenRelayError('ROUTE_NOT_FOUND'));
    const up = matched.upstream;
    const { plan } = up;
    if (!isAllowed(plan, 'GET', matched.rest)) return refuse(client, new TokenRelayError('NOT_ALLOWED', undefined, { upstream: plan.name }));
    const account = tenant ? tenantAccount(tenant, up, 'GET', matched.rest) : undefined;
    if (account instanceof TokenRelayError) return refuse(client, account);
    const tokens = account ? account.tokens : up.tokens;
    if (!tokens) return refuse(client, new TokenRelayError('CREDENTIALS_MISSING', undefined, { upstream: plan.name }));
    if (tenant?.spec && counters) {
      const a = await counters().admit(tenant.spec);
      if (!a.ok) return refuse(client, refusalError(a, tenant.plan.name, plan.name));
      client.once('close', a.release);
    }
    const path = plan.basePath + matched.rest;
    try {
      const limit = rt.config.limits.inspectBytes;
      let token = await tokens.get();
      let attempt = await connect(up, req, path, token);
      let read = attempt.socket ? undefined : await readSmall(attempt.res, peekLimit(plan.expiredWhen, attempt.res.statusCode ?? 0, attempt.res.headers, limit));
      if (!attempt.socket && answerSaysExpired(plan.expiredWhen, attempt.res.statusCode ?? 0, attempt.res.headers, read?.ended ? Buffer.concat(read.chunks) : undefined, limit)) {
        attempt.res.resume();
        token = await tokens.renew(token);
        attempt = await connect(up, req, path, token);
        read = undefined;
      }
      const { res, socket } = attempt;
      if (!socket) {
        // Not upgraded: the upstream's answer goes to the client as it is, its bytes unchanged
        // (Node's client leaves content codings alone; the body is delimited by closing).
        const pairs: string[] = [];
        const raw = res.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) if (!/^(connection|transfer-encoding|keep-alive)$/i.test(raw[i]!)) pairs.push(raw[i]!, raw[i + 1]!);
        client.write(head(res.statusCode ?? 502, res.statusMessage ?? '', [...pairs, 'connection', 'close']));
        for (const c of read?.chunks ?? []) client.write(c);
        if (read?.ended) client.end();
        else res.pipe(client);
        return;
      }
      client.write(head(101, 'Switching Protocols', res.rawHeaders));
      if (attempt.head?.length) client.write(attempt.head);
      if (clientHead.length) socket.write(clientHead);
      sockets.add(client);
      socket.on('error', () => client.destroy());
      client.on('close', () => {
        sockets.delete(client);
        socket.destroy();
      });
      socket.on('close', () => client.destroy());
      socket.pipe(client);
      client.pipe(socket);
      logger.info({ upstream: plan.name, event: 'websocket', path: (req.url ?? '').split('?')[0] }, 'websocket upgraded');
    } catch (err) {
      // The handshake timeout carries undici's code, so the forwarder's mapping applies as is.
      refuse(client, upstreamError(err, plan.name));
    }
  };
}
