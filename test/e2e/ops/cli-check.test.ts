import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeConfig } from '../../support/child.js';
import { startFakeVendor, type FakeVendor } from '../../support/fakes/vendor.js';

describe('tokenrelay check', () => {
  let akool: FakeVendor;
  let baidu: FakeVendor;
  beforeAll(async () => {
    akool = await startFakeVendor('akool');
    baidu = await startFakeVendor('baidu-aiob');
  });
  afterAll(async () => {
    await akool.close();
    await baidu.close();
  });
  const config = () => writeConfig(`
upstreams:
  akool:
    prefix: /akool
    target: ${akool.url}
    auth: { type: akool, clientId: "\${AK_ID}", clientSecret: "\${AK_SECRET}" }
  baidu-aiob:
    prefix: /baidu-aiob
    target: ${baidu.url}
    auth: { type: baidu-aiob, accessKey: "${baidu.credentials.accessKey}", secretKey: "${baidu.credentials.secretKey}" }
`);

  it('prints route, target, auth type and which secrets are present, never their values; missing secrets fail it', async () => {
    const r = await runCli(['check', '--config', config()], { AK_ID: akool.credentials.clientId! });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/akool\s+\/akool\/\*\s+http:\/\/127\.0\.0\.1:\d+\s+akool\s+clientId present, clientSecret MISSING/);
    expect(r.stdout).toMatch(/baidu-aiob\s+\/baidu-aiob\/\*.*accessKey present, secretKey present/);
    expect(r.stdout).toContain('FAILED');
    for (const v of [...Object.values(akool.credentials), ...Object.values(baidu.credentials)]) expect(r.stdout + r.stderr).not.toContain(v);
  });

  it('says why a secret is missing: unset, empty, or a file it cannot read', async () => {
    const unset = await runCli(['check', '--config', config()], { AK_ID: akool.credentials.clientId! });
    expect(unset.stdout).toContain('clientSecret MISSING (environment variable AK_SECRET is not set)');
    const empty = await runCli(['check', '--config', config()], { AK_ID: '', AK_SECRET: 'x' });
    expect(empty.stdout).toContain('clientId MISSING (environment variable AK_ID is empty)');
    const dir = mkdtempSync(join(tmpdir(), 'tr-check-'));
    const file = join(dir, 'no-such-secret');
    const missingFile = writeConfig(`upstreams:\n  akool:\n    prefix: /akool\n    target: ${akool.url}\n    auth: { type: akool, clientId: x, clientSecretFile: ${file} }\n`);
    expect((await runCli(['check', '--config', missingFile])).stdout).toContain(`clientSecret MISSING (file ${file}: ENOENT)`);
    writeFileSync(file, '\n');
    expect((await runCli(['check', '--config', missingFile])).stdout).toContain(`clientSecret MISSING (file ${file} is empty)`);
  });

  it('--fetch fetches each token once and prints outcome, lifetime and latency; exit 0 when all succeed', async () => {
    const before = akool.counts.tokenFetches;
    const r = await runCli(['check', '--fetch', '--config', config()], { AK_ID: akool.credentials.clientId!, AK_SECRET: akool.credentials.clientSecret! });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/akool\s+\d+ms\s+400d \(jwt\)\s+ok/);
    expect(r.stdout).toMatch(/baidu-aiob\s+\d+ms\s+30d \(answer\)\s+ok/);
    expect(akool.counts.tokenFetches - before).toBe(1);
    for (const t of [...akool.issued, ...baidu.issued]) expect(r.stdout).not.toContain(t);
  });

  it('--fetch exits non-zero and names the failure when a vendor refuses', async () => {
    const r = await runCli(['check', '--fetch', '--config', config()], { AK_ID: akool.credentials.clientId!, AK_SECRET: 'wrong-secret' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/akool\s+\d+ms\s+-\s+TOKEN_FETCH_FAILED: token endpoint refused/);
  });

  it('an invalid config exits 2; an unknown command or flag is a usage error', async () => {
    expect((await runCli(['check', '--config', writeConfig('upstreams: 5\n')])).code).toBe(2);
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Usage');
    expect((await runCli(['--fetch'])).code).toBe(2);
  });
});
