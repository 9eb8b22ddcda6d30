import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { relayProcessEach, runCli, writeConfig } from '../../support/child.js';

describe('process: signals and exit codes', () => {
  const each = relayProcessEach();

  it('SIGTERM: stops accepting, lets in-flight requests finish, exits 0', async () => {
    const relay = await each.start();
    const inflight = request(`${relay.url}/akool/__slow?ms=800`);
    await new Promise((r) => setTimeout(r, 300));
    const exited = relay.stop('SIGTERM');
    const res = await inflight;
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { code: number }).code).toBe(1000);
    expect(await exited).toBe(0);
    await expect(request(`${relay.url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('an invalid config exits 2 with one line per problem naming its path', async () => {
    const file = writeConfig(`
upstreams:
  hitem3d:
    prefix: /hitem3d
    target: https://api.hitem3d.ai
    auth: { type: hitme3d, clientId: a, clientSecret: b }
  other: { prefix: /o, target: nope, auth: { type: akool }, extra: 1 }
`);
    const r = await runCli(['--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('upstreams.hitem3d.auth.type: expected akool | hitem3d | baidu-aiob | oauth2 | custom | static, got "hitme3d"');
    expect(r.stderr).toContain('upstreams.other.target:');
    expect(r.stderr).toContain('upstreams.other.extra: unknown key');
  });

  it('reads the config path from TOKENRELAY_CONFIG; --help, --version, unknown flags', async () => {
    const bad = writeConfig('listen: { port: -1 }\nupstreams: {}\n');
    expect((await runCli([], { TOKENRELAY_CONFIG: bad })).stderr).toContain('listen.port');
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--config');
    expect((await runCli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+/);
    const unknown = await runCli(['--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Usage');
  });
});
