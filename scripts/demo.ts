/**
 * `npm run demo`: fake Akool, Hitem3D and Baidu AIOB servers (the ones the tests use) and a
 * tokenrelay in front of them, with curl lines to paste. No vendor account needed.
 */
import { createTokenRelay } from '../src/app.js';
import { compileConfig } from '../src/config/load.js';
import { createLogger } from '../src/telemetry/logger.js';
import { startFakeVendor, type VendorKind } from '../test/support/fakes/vendor.js';

const kinds: VendorKind[] = ['akool', 'hitem3d', 'baidu-aiob'];
const vendors = await Promise.all(kinds.map((k) => startFakeVendor(k)));
const upstreams = Object.fromEntries(vendors.map((v) => [v.kind, {
  prefix: `/${v.kind}`, target: v.url, auth: { type: v.kind, ...v.credentials },
}]));
const port = Number(process.env.PORT ?? 8080);
const config = compileConfig({ listen: { host: '127.0.0.1', port }, upstreams }, { env: {} });
const relay = createTokenRelay({ config, logger: createLogger({ level: process.env.LOG_LEVEL ?? 'info' }) });
let addr;
try {
  addr = await relay.listen();
} catch {
  addr = await relay.listen(0); // 8080 taken: any free port
}
const base = `http://127.0.0.1:${addr.port}`;
const akool = vendors[0]!;
process.stderr.write(`
tokenrelay demo: ${base}  (fake vendors: ${vendors.map((v) => `${v.kind} ${v.url}`).join(', ')})

1. A call through tokenrelay; the fake echoes the Authorization it received (the injected token):
   curl -s '${base}/akool/api/open/v3/voice/list?from=3'
   curl -s '${base}/hitem3d/open-api/v1/balance'
   curl -s '${base}/baidu-aiob/api/v1/did/list'

2. Revoke every Akool token at the vendor, then call again: tokenrelay sees code 1101,
   fetches a new token once, resends, and you still get code 1000:
   curl -s -X POST '${akool.url}/__fake/revoke'
   curl -s '${base}/akool/api/open/v3/voice/list?from=3'
   curl -s '${akool.url}/__fake/stats'        # tokenFetches: 2

3. Health, readiness (token state, never the token) and metrics:
   curl -s ${base}/readyz
   curl -s ${base}/metrics | grep tokenrelay_token_fetches_total

Ctrl-C to stop.
`);
const stop = async () => {
  await relay.close(1000);
  await Promise.all(vendors.map((v) => v.close()));
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
