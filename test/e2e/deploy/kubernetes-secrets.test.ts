/**
 * The manifests as shipped must be able to read their own secrets. Each manifest's Secret
 * volumes are laid out as the kubelet lays them (owner root, group fsGroup, mode defaultMode,
 * group-readable when fsGroup is set), then `dist/cli.js` runs as the manifest's
 * runAsUser/runAsGroup with fsGroup as a supplementary group (setpriv), and must read every
 * credential. Needs root (to own files as root and drop to another user): CI runs as root.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../../support/child.js';
import { ROOT } from '../../support/paths.js';

const dir = join(ROOT, 'deploy', 'kubernetes');
const isRoot = process.getuid?.() === 0;

/** Kubernetes reads manifests as YAML 1.1: `0440` is octal there. */
function load(file: string): any[] {
  return parseAllDocuments(readFileSync(join(dir, file), 'utf8'), { version: '1.1' }).map((d) => d.toJS());
}

interface Pod { user: number; group: number; fsGroup: number | undefined; root: string; config: string }

/**
 * Lays out a manifest's tokenrelay container under `root` as the kubelet would: each mounted
 * ConfigMap and Secret as files, /tmp as a world-writable emptyDir. Returns the config path,
 * rewritten to point at `root` (and at loopback ports of our choosing).
 */
function layOut(docs: any[], root: string, override?: { defaultMode?: number; fsGroup?: number | null }): Pod {
  const pod = docs.find((d) => d.kind === 'Deployment').spec.template.spec;
  const c = [...(pod.initContainers ?? []), ...pod.containers].find((x: any) => x.name === 'tokenrelay');
  const fsGroup: number | undefined = override?.fsGroup === null ? undefined : (override?.fsGroup ?? pod.securityContext?.fsGroup);
  const user = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
  const group = c.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup;
  chmodSync(root, 0o755);
  for (const m of c.volumeMounts) {
    const v = pod.volumes.find((x: any) => x.name === m.name);
    const at = join(root, m.mountPath);
    mkdirSync(at, { recursive: true });
    if (v.emptyDir) {
      chmodSync(at, 0o777);
      continue;
    }
    const src = v.configMap
      ? docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === v.configMap.name).data
      : docs.find((d) => d.kind === 'Secret' && d.metadata.name === v.secret.secretName).stringData;
    const mode = (override?.defaultMode ?? (v.secret ?? v.configMap).defaultMode ?? 0o644) | (fsGroup !== undefined ? 0o040 : 0);
    for (const [key, value] of Object.entries(src as Record<string, string>)) {
      const file = join(at, key);
      writeFileSync(file, value);
      chownSync(file, 0, fsGroup ?? 0);
      chmodSync(file, mode);
    }
    chownSync(at, 0, fsGroup ?? 0);
    chmodSync(at, 0o755);
  }
  const configPath = c.args[c.args.indexOf('--config') + 1] as string;
  const text = readFileSync(join(root, configPath), 'utf8')
    .replace(/(\/var\/run\/secrets\/|\/tmp\/)/g, (p) => join(root, p) + (p.endsWith('/') ? '/' : ''))
    .replace(/port: \d+/g, 'port: 0')
    .replace(/target: https:\/\/[^\s]+/g, 'target: http://127.0.0.1:9');
  const config = join(root, 'tokenrelay.yaml');
  writeFileSync(config, text);
  chmodSync(config, 0o644);
  return { user, group, fsGroup, root, config };
}

/** Runs the CLI as the pod's user: `setpriv` with the fsGroup as a supplementary group. */
function runAs(p: Pod, args: string[], untilLine?: RegExp): Promise<{ code: number | null; out: string }> {
  const groups = p.fsGroup !== undefined ? ['--groups', String(p.fsGroup)] : ['--clear-groups'];
  return new Promise((resolve) => {
    const proc = spawn('setpriv', ['--reuid', String(p.user), '--regid', String(p.group), ...groups, process.execPath, CLI, ...args],
      { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    const onData = (d: Buffer) => {
      out += d;
      if (untilLine?.test(out)) proc.kill('SIGTERM');
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe.skipIf(!isRoot)('Kubernetes manifests: secrets laid out as the kubelet does, read as the pod user', () => {
  const roots: string[] = [];
  const newRoot = () => {
    const r = mkdtempSync(join(tmpdir(), 'tr-k8s-'));
    roots.push(r);
    return r;
  };
  afterAll(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  for (const file of ['sidecar.yaml', 'gateway.yaml']) {
    it(`${file}: every credential (and inbound key) is read by runAsUser with fsGroup`, async () => {
      const pod = layOut(load(file), newRoot());
      expect(pod.user).toBe(1000);
      expect(pod.fsGroup).toBeDefined();
      const check = await runAs(pod, ['check', '--config', pod.config]);
      expect(check.out).not.toMatch(/MISSING/);
      expect(check.out).toContain('OK');
      expect(check.code).toBe(0);
      // The server too: its start log names no missing secret, and the spool dir under /tmp is made.
      const serve = await runAs(pod, ['--config', pod.config], /"event":"listening"/);
      expect(serve.out).toMatch(/"event":"listening"/);
      expect(serve.out).not.toMatch(/disabled until its credentials are set|inbound keys are not set|EACCES/);
    });
  }

  it('the layout check can fail: the old defaultMode 0400 without fsGroup is EACCES for UID 1000', async () => {
    const pod = layOut(load('sidecar.yaml'), newRoot(), { defaultMode: 0o400, fsGroup: null });
    const check = await runAs(pod, ['check', '--config', pod.config]);
    expect(check.code).toBe(1);
    expect(check.out).toMatch(/MISSING \(file \S+: EACCES\)/);
  });
});
