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

type Connector = undici.buildConnector.connector;
const buildConnector = require('undici/lib/core/connect.js') as typeof undici.buildConnector;
const { kParser } = require('undici/lib/core/symbols.js') as { kParser: symbol };
interface H1Parser { onHeadersComplete(statusCode: number, upgrade: boolean, keepAlive: boolean): number }

/**
 * undici's connector, with one fix per connection: undici destroys the socket on a `100
 * Continue` it did not ask for (it never sends `Expect`), but RFC 9110 §15.2 says a client must
 * parse and ignore any 1xx before the final answer, and some servers send 100 to every POST.
 * The parser's head callback sees 100 as 102, which undici already treats as an ignorable
 * interim answer. If a future undici moves its parser, the fix is skipped and the connection
 * behaves as before.
 */
export function connector(opts: undici.buildConnector.BuildOptions): Connector {
  const connect = buildConnector(opts);
  return (o, cb) => connect(o, (...args) => {
    cb(...args);
    const socket = args[1];
    // undici attaches its parser synchronously after this callback returns.
    if (!socket) return;
    const parser = (socket as unknown as Record<symbol, H1Parser | undefined>)[kParser];
    if (!parser || typeof parser.onHeadersComplete !== 'function') return;
    const original = parser.onHeadersComplete;
    parser.onHeadersComplete = function (statusCode, upgrade, keepAlive) {
      return original.call(this, statusCode === 100 ? 102 : statusCode, upgrade, keepAlive);
    };
  });
}
export type Pool = undici.Pool;
export type Agent = undici.Agent;
export type { Dispatcher } from 'undici';
