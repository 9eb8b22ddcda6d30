import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../support/paths.js';

// No Docker engine runs here: the runtime stage itself is proven by scripts/runtime-check.mjs
// (production dependencies alone, started, proxied, stopped). This checks the Dockerfile's shape.
const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
const stages = lines.filter((l) => /^FROM /i.test(l));
const runtime = text.slice(text.lastIndexOf('\nFROM '));

describe('Dockerfile', () => {
  it('is multi-stage: build with dev dependencies, runtime with production ones only', () => {
    expect(stages.length).toBe(2);
    expect(text).toMatch(/npm ci/);
    expect(text).toMatch(/npm prune --omit=dev|npm ci --omit=dev/);
    expect(runtime).not.toMatch(/npm (ci|install)(?! --omit=dev)/);
    expect(runtime).not.toMatch(/COPY\s+(--\S+\s+)*src\b/);
  });

  it('uses a slim Node LTS base (an even major newer than 20)', () => {
    const version = Number(/ARG NODE_VERSION=(\d+)/.exec(text)?.[1]);
    expect(version % 2).toBe(0);
    expect(version).toBeGreaterThan(20);
    for (const s of stages) expect(s).toMatch(/node:\$\{NODE_VERSION\}-slim/);
  });

  it('runs as a non-root numeric user, exposes its port, has a HEALTHCHECK, node as PID 1', () => {
    expect(runtime).toMatch(/^USER [1-9]\d*(:\d+)?$/m);
    expect(runtime).toMatch(/^EXPOSE 8080\b/m);
    expect(runtime).toMatch(/^HEALTHCHECK /m);
    expect(runtime).toMatch(/^ENTRYPOINT \["node", (?:"--[\w-]+=\w+", )*"dist\/cli\.js"\]$/m);
  });
});
