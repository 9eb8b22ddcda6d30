import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/helpers.js';
import { ROOT } from '../../support/paths.js';

const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'tokenrelay.json'), 'utf8'));
const exprs: string[] = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));

describe('Grafana dashboard', () => {
  let h: Harness;
  let exported: Set<string>;
  /** Each exported series name's labels. */
  const labels = new Map<string, Set<string>>();
  beforeAll(async () => {
    h = await startHarness({ kinds: ['akool'] });
    await h.get('/akool/x');
    h.vendors.akool.revokeAll();
    await h.get('/akool/x');
    const text = (await request(h.url).get('/metrics')).text;
    for (const l of text.split('\n').filter((x) => x && !x.startsWith('#'))) {
      const name = l.split(/[{ ]/)[0]!;
      // Prometheus adds `instance` and `job` to every series it scrapes.
      const set = labels.get(name) ?? new Set(['instance', 'job']);
      for (const m of l.matchAll(/[{,](\w+)="/g)) set.add(m[1]!);
      labels.set(name, set);
    }
    exported = new Set(labels.keys());
  });
  afterAll(() => h.close());

  it('has panels for traffic, errors, latency and token health', () => {
    const titles = dashboard.panels.filter((p: any) => p.type === 'row').map((p: any) => p.title);
    expect(titles).toEqual(expect.arrayContaining(['Traffic and errors', 'Latency', 'Token health']));
    expect(exprs.length).toBeGreaterThan(10);
  });

  it('queries only metrics tokenrelay exports, and labels it sets', () => {
    const names = new Set(exprs.flatMap((e) => e.match(/tokenrelay_[a-z_0-9]+/g) ?? []));
    for (const n of names) expect(exported, n).toContain(n);
    for (const e of exprs) for (const [, label] of e.matchAll(/(\w+)=~?"/g)) expect(['upstream', 'status_class', 'status', 'outcome', 'reason']).toContain(label);
    // Grouped by labels the queried series carry (a typo would draw one flat line).
    for (const e of exprs) {
      const carried = new Set((e.match(/tokenrelay_[a-z_0-9]+/g) ?? []).flatMap((n) => [...(labels.get(n) ?? [])]));
      for (const [, by] of e.matchAll(/\bby \(([^)]*)\)/g)) for (const l of by!.split(',')) expect(carried, e).toContain(l.trim());
    }
  });

  it('has a panel for the replay spool against its bound', () => {
    expect(exprs.some((e) => /tokenrelay_spool_bytes/.test(e) && /\bstate\b/.test(e))).toBe(true);
    expect(exprs.some((e) => /tokenrelay_spool_limit_bytes/.test(e))).toBe(true);
  });
});
