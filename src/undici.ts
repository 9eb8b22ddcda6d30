/**
 * The two undici classes tokenrelay uses, loaded by path. The package index also loads fetch,
 * WebSocket, EventSource and the HTTP caches, none of which tokenrelay uses: measured in an
 * empty Node process, the index costs ~20 MB of resident memory and these two ~11 MB.
 */
import { createRequire } from 'node:module';
import type * as undici from 'undici';

const require = createRequire(import.meta.url);

// What the package index does to give every dispatcher request(), stream(), pipeline()…
Object.assign(
  (require('undici/lib/dispatcher/dispatcher.js') as { prototype: object }).prototype,
  require('undici/lib/api/index.js') as object,
);

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof undici.Pool;
/**
 * A raw header name as a lowercase string: undici's own lookup (a tree of the common names, no
 * string made per call for those); plain conversion if a future undici moves it.
 */
export const headerName: (raw: Buffer) => string =
  (require('undici/lib/core/util.js') as { bufferToLowerCasedHeaderName?: (raw: Buffer) => string }).bufferToLowerCasedHeaderName
  ?? ((raw) => raw.toString('latin1').toLowerCase());
export const Agent = require('undici/lib/dispatcher/agent.js') as typeof undici.Agent;
export type Pool = undici.Pool;
export type Agent = undici.Agent;
export type { Dispatcher } from 'undici';
