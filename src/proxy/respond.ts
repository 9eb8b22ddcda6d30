/**
 * tokenrelay's own answers: a coded error as JSON (the body that may still follow a refused
 * request is not taken for the next request), and request ids.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { TokenRelayError } from '../util/errors.js';
import { bodyPending } from './body-timeout.js';

export function sendError(res: ServerResponse, err: TokenRelayError, reqId?: string): void {
  const body = err.toBody();
  // Refused before its body was read (a declared body, an Expect without its 100): the rest
  // of that body must not be taken for the next request on this connection.
  if (bodyPending(res.req)) res.shouldKeepAlive = false;
  res.writeHead(err.status, {
    'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(reqId ? { 'x-request-id': reqId } : {}),
  });
  res.end(body);
}

// Request ids made here: a random per-process prefix and a counter. Unique across replicas,
// and much cheaper per request than a UUID.
const ID_PREFIX = randomBytes(6).toString('hex');
let idCounter = 0;
function nextRequestId(): string {
  return `${ID_PREFIX}-${(++idCounter).toString(36)}`;
}

const REQUEST_ID = /^[\w\-.:@/+=]{1,128}$/;

/** The client's X-Request-Id when it is sane (1-128 safe characters), else a new one. */
export function requestIdFrom(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
}
