import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ADMIN_PATHS, compileConfig, type RelayConfig } from '../../../src/config/load.js';
import { ROOT } from '../../support/paths.js';

const dir = join(ROOT, 'deploy', 'kubernetes');
const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap, 'v1/Secret': Secret, 'v1/Service': Service, 'apps/v1/Deployment': Deployment,
};

function load(file: string): any[] {
  const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
  for (const d of docs) expect(d.errors).toEqual([]);
  return docs.map((d) => d.toJS());
}

/** The tokenrelay container, its pod, and the config it runs with (files resolved against the pod's mounts). */
function tokenrelayIn(docs: any[]) {
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const pod = deployment.spec.template.spec;
  const all = [...(pod.initContainers ?? []), ...pod.containers];
  const c = all.find((x: any) => x.name === 'tokenrelay');
  const configPath: string = c.args[c.args.indexOf('--config') + 1];
  const mountOf = (path: string) => c.volumeMounts.find((m: any) => path.startsWith(`${m.mountPath}/`));
  const volumeOf = (mount: any) => pod.volumes.find((v: any) => v.name === mount.name);
  // Reads a file as the container would: from the ConfigMap or Secret mounted at that path.
  const readFile = (path: string) => {
    const m = mountOf(path);
    if (!m) throw Object.assign(new Error(`not mounted: ${path}`), { code: 'ENOENT' });
    const v = volumeOf(m);
    const key = path.slice(m.mountPath.length + 1);
    const src = v.configMap
      ? docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === v.configMap.name)?.data
      : docs.find((d) => d.kind === 'Secret' && d.metadata.name === v.secret?.secretName)?.stringData;
    if (!src || !(key in src)) throw Object.assign(new Error(`no key ${key} for ${path}`), { code: 'ENOENT' });
    return src[key] as string;
  };
  const config: RelayConfig = compileConfig(
    (parseAllDocuments(readFile(configPath))[0]!.toJS()),
    { env: {}, readFile },
  );
  return { deployment, pod, c, config, mountOf, volumeOf };
}

describe('Kubernetes manifests', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('exist: a sidecar example and a shared gateway', () => {
    expect(files.sort()).toEqual(['gateway.yaml', 'sidecar.yaml']);
  });

  for (const file of files) {
    it(`${file}: every document validates against the Kubernetes schemas`, () => {
      for (const doc of load(file)) {
        const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
        expect(Model, `${doc.apiVersion} ${doc.kind} has a model`).toBeDefined();
        expect(() => new Model!(doc).validate()).not.toThrow();
      }
    });

    it(`${file}: probe paths and ports agree with the config tokenrelay runs with; every secret resolves`, () => {
      const { c, config } = tokenrelayIn(load(file));
      const adminPort = config.admin?.port ?? config.listen.port;
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        if (!c[probe]) continue;
        expect(ADMIN_PATHS).toContain(c[probe].httpGet.path);
        expect(c[probe].httpGet.port).toBe(adminPort);
      }
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.ports.map((p: any) => p.containerPort)).toContain(adminPort);
      // Probes reach the pod IP, so the admin listener must not be loopback-only.
      expect(config.admin?.host).toBe('0.0.0.0');
      for (const u of config.upstreams) expect(u.missing, u.name).toEqual([]);
    });

    it(`${file}: restrictive security context, resources, and /tmp as the only writable path`, () => {
      const { c, config, mountOf, volumeOf } = tokenrelayIn(load(file));
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] },
      });
      expect(c.resources.requests.memory).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
      const spool = mountOf(`${config.replay.spoolDir}/x`);
      expect(spool.mountPath).toBe('/tmp');
      expect(volumeOf(spool).emptyDir).toBeDefined();
      for (const m of c.volumeMounts) if (m.mountPath !== '/tmp') expect(m.readOnly).toBe(true);
    });

    it(`${file}: the spool budget stays under the /tmp emptyDir's sizeLimit (an overflow evicts the pod)`, () => {
      const { config, mountOf, volumeOf } = tokenrelayIn(load(file));
      const limit = volumeOf(mountOf(`${config.replay.spoolDir}/x`)).emptyDir.sizeLimit as string;
      const m = /^(\d+)(Mi|Gi)$/.exec(limit)!;
      const bytes = Number(m[1]) * (m[2] === 'Gi' ? 1024 ** 3 : 1024 ** 2);
      expect(config.replay.maxSpoolBytes).toBeLessThan(bytes);
      expect(config.replay.maxBytes).toBeLessThanOrEqual(config.replay.maxSpoolBytes);
    });

    it(`${file}: Secret files are readable by the pod's user: fsGroup set, group-readable modes`, () => {
      // YAML 1.1, as Kubernetes reads it: 0440 is octal.
      const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'), { version: '1.1' }).map((d) => d.toJS());
      const pod = docs.find((d: any) => d.kind === 'Deployment').spec.template.spec;
      expect(pod.securityContext.fsGroup).toBe(1000);
      for (const v of pod.volumes) if (v.secret) expect(v.secret.defaultMode & 0o040).toBe(0o040);
    });
  }

  it('sidecar.yaml: tokenrelay is a native sidecar (init container, restartPolicy Always) with a startup probe', () => {
    const { pod, c, config } = tokenrelayIn(load('sidecar.yaml'));
    expect(pod.initContainers.map((x: any) => x.name)).toContain('tokenrelay');
    expect(c.restartPolicy).toBe('Always');
    expect(c.startupProbe).toBeDefined();
    expect(config.listen.host).toBe('127.0.0.1');
    // The app is pointed at tokenrelay's port.
    const app = pod.containers.find((x: any) => x.name === 'app');
    for (const e of app.env) expect(e.value).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${config.listen.port}/`));
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.gracePeriodMs);
  });

  it('gateway.yaml: inbound keys on, a Service in front of the ports the config listens on', () => {
    const docs = load('gateway.yaml');
    const { c, config } = tokenrelayIn(docs);
    expect(config.inbound?.keys.length).toBeGreaterThan(0);
    expect(config.inbound?.missing).toEqual([]);
    const svc = docs.find((d) => d.kind === 'Service');
    const named = Object.fromEntries(c.ports.map((p: any) => [p.name, p.containerPort]));
    expect(named.http).toBe(config.listen.port);
    for (const p of svc.spec.ports) expect(named[p.targetPort]).toBeDefined();
    expect(svc.spec.selector).toEqual(docs.find((d) => d.kind === 'Deployment').spec.template.metadata.labels);
  });
});
