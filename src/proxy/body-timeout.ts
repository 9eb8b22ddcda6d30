/**
 * `limits.clientBodyTimeout`, as nginx's `client_body_timeout`: the longest pause between two
 * chunks of a request body. A client that stops sending mid-body must not hold an upstream
 * slot, a connection and a replay copy for good. Time spent paused by backpressure (the
 * upstream or the spool not draining) is not the client's and does not count.
 */
import type { IncomingMessage } from 'node:http';
import { TokenRelayError } from '../util/errors.js';

/** Calls `onStall` once if the body pauses longer than `ms`; returns a stop function. */
export function watchBody(req: IncomingMessage, ms: number, onStall: (err: TokenRelayError) => void): () => void {
  if (req.complete) return () => {};
  const timer = setTimeout(function check() {
    // Paused by us (pipe backpressure): the wait is ours, not the client's.
    if (req.readableFlowing === false || req.isPaused()) return void timer.refresh();
    stop();
    onStall(new TokenRelayError('REQUEST_TIMEOUT', `the request body stalled for more than limits.clientBodyTimeout (${ms} ms)`));
  }, ms);
  timer.unref();
  // One timer per request, re-armed per chunk (refresh() allocates nothing).
  const onData = () => timer.refresh();
  function stop(): void {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', stop);
    req.off('close', stop);
  }
  req.on('data', onData);
  req.once('end', stop);
  req.once('close', stop);
  return stop;
}

/**
 * A request that declared a body not yet read whole. Answering it now leaves the rest (or, after
 * an `Expect: 100-continue` with no 100, a body that may never come) on the connection: such an
 * answer closes the connection. A request without a body is complete once its head is parsed,
 * even if Node has not marked it so when the handler runs.
 */
export function bodyPending(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}
