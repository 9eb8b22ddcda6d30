/**
 * A small request body of known length, read whole before the request takes an upstream slot
 * and sent as one buffer (the same buffer is the replay copy): the streaming tee measured at half
 * the requests/s on 1 KiB POSTs. A client that stalls mid-body holds no slot.
 */
import type { IncomingMessage } from 'node:http';
import { TokenRelayError } from '../util/errors.js';
import { watchBody } from './body-timeout.js';

/** Bodies up to this (and up to replay.maxBytes) are read whole. */
export const SMALL_BODY = 64 * 1024;

/** Reads a small request body whole; rejects if the client goes away or stalls first. */
export function readSmall(req: IncomingMessage, stallMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    // On a stall the 408 goes out and the connection closes after it (the body is incomplete).
    const stop = watchBody(req, stallMs, reject);
    req.once('end', () => {
      stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    req.once('error', reject);
    req.once('aborted', () => reject(new TokenRelayError('BAD_REQUEST', 'the client aborted the request body')));
  });
}
