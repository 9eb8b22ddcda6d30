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
  beforeAll(async () => {
    h = await startHarness({ kinds: ['akool'] });
    await h.get('/akool/x');
    h.vendors.akool.revokeAll();
    await h.get('/akool/x');
    const text = (await request(h.url).get('/metrics')).text;
    exported = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]!));
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
  });
});
