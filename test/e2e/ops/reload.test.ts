import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, writeConfig, type RelayProcess } from '../../support/child.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < end) {
    await wait(100);
    v = await fn();
  }
  return v;
}

describe('reload without restart', () => {
  let akool: FakeVendor;
  let hitem: FakeVendor;
  let relay: RelayProcess;
  let configFile: string;
  let secretFile: string;
  const client = new Agent();
  const get = async (path: string) => {
    const r = await request(`${relay.url}${path}`, { dispatcher: client });
    const text = await r.body.text();
    return { status: r.statusCode, json: JSON.parse(text) as any };
  };
  const yaml = (extra = '') => `
listen: { port: 0 }
reload: { interval: 100ms }
upstreams:
  akool:
    prefix: /akool
    target: ${akool.url}
    auth: { type: akool, clientId: "${akool.credentials.clientId}", clientSecretFile: "${secretFile}" }
${extra}`;

  beforeAll(async () => {
    akool = await startFakeVendor('akool');
    hitem = await startFakeVendor('hitem3d');
    configFile = writeConfig('placeholder: true');
    secretFile = join(dirname(configFile), 'akool-secret');
    writeFileSync(secretFile, `${akool.credentials.clientSecret}\n`);
    writeFileSync(configFile, yaml());
    relay = await startRelayProcess('', {}, configFile);
  });
  afterAll(async () => {
    await client.close();
    await relay.stop();
    await akool.close();
    await hitem.close();
  });

  it('SIGHUP applies a valid new config to new requests; in-flight ones finish', async () => {
    expect((await get('/akool/x')).status).toBe(200);
    expect((await get('/hitem3d/x')).json.error.code).toBe('ROUTE_NOT_FOUND');
    const inflight = get('/akool/__slow?ms=1000');
    await wait(200);
    writeFileSync(configFile, yaml(`  hitem3d:
    prefix: /hitem3d
    target: ${hitem.url}
    auth: { type: hitem3d, clientId: "${hitem.credentials.clientId}", clientSecret: "${hitem.credentials.clientSecret}" }
`));
    relay.proc.kill('SIGHUP');
    const added = await eventually(() => get('/hitem3d/open-api/v1/balance'), (r) => r.status === 200);
    expect(added.json.code).toBe(200);
    expect((await inflight).status).toBe(200);
    // The unchanged upstream kept its token: no new fetch.
    expect(akool.counts.tokenFetches).toBe(1);
  });

  it('an invalid new config is refused with the same coded errors as at start; the running one stays', async () => {
    writeFileSync(configFile, 'upstreams:\n  akool: { prefix: /akool, target: nope, auth: { type: akol } }\n');
    relay.proc.kill('SIGHUP');
    const refused = await eventually(async () => relay.stdout.find((l) => l.includes('reload_refused')), (l) => l !== undefined);
    const line = JSON.parse(refused!) as { code: string; problems: string[] };
    expect(line.code).toBe('CONFIG_INVALID');
    expect(line.problems.some((p) => p.startsWith('upstreams.akool.auth.type:'))).toBe(true);
    expect((await get('/akool/x')).status).toBe(200);
    expect((await get('/hitem3d/x')).status).toBe(200);
  });

  it('a changed secret file is noticed without a signal, and the token got with the old secret is dropped', async () => {
    writeFileSync(configFile, yaml());
    await eventually(() => get('/hitem3d/x'), (r) => r.status === 404);
    const fetches = akool.counts.tokenFetches;
    writeFileSync(secretFile, 'a-wrong-secret\n');
    // The old token would still work at the vendor: a 502 proves it was dropped and the new secret used.
    const failed = await eventually(() => get('/akool/x'), (r) => r.status === 502);
    expect(failed.json.error.code).toBe('TOKEN_FETCH_FAILED');
    expect(akool.counts.tokenFetches).toBeGreaterThan(fetches);
    writeFileSync(secretFile, `${akool.credentials.clientSecret}\n`);
    const back = await eventually(() => get('/akool/x'), (r) => r.status === 200, 8000);
    expect(back.json.code).toBe(1000);
    expect(relay.stdout.join('\n')).not.toContain(akool.credentials.clientSecret);
  });
});
