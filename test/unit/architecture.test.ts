/**
 * The layout's rules, checked over every import in src/ (type imports included): no import
 * cycle between files, and imports flow one way between the parts (docs/architecture.md):
 * entry and app → proxy, ops → tokens, limits → config → util; telemetry is used by all and uses util.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

/** What each part may import besides itself. The top level (entry, app, runtime) may import any. */
export const ALLOWED: Record<string, string[]> = {
  util: [],
  config: ['util'],
  telemetry: ['util'],
  tokens: ['config', 'telemetry', 'util'],
  limits: ['config', 'telemetry', 'util'],
  proxy: ['tokens', 'limits', 'config', 'telemetry', 'util'],
  ops: ['tokens', 'limits', 'config', 'telemetry', 'util'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** File → the src files it imports (relative specifiers, `.js` naming the `.ts`). */
export function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const deps = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)]
      .map((m) => relative(SRC, normalize(join(dirname(file), m[1]!.replace(/\.js$/, '.ts')))));
    graph.set(relative(SRC, file), [...new Set(deps)]);
  }
  return graph;
}

/** Every cycle, as the files on it (Tarjan's strongly connected components of size > 1, or a self-import). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const partOf = (file: string) => (file.includes('/') ? file.split('/')[0]! : 'top');

describe('architecture', () => {
  const graph = importGraph();

  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('the check finds a cycle when there is one', () => {
    expect(cycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]))).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('imports flow one way between the parts', () => {
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      const from = partOf(file);
      if (from === 'top') continue;
      for (const d of deps) {
        const to = partOf(d);
        if (to !== from && !(ALLOWED[from] ?? []).includes(to)) wrong.push(`${file} → ${d}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('every file is in a known part, and every part is documented', () => {
    const parts = new Set([...graph.keys()].map(partOf));
    for (const p of parts) expect(p === 'top' || p in ALLOWED, p).toBe(true);
    const doc = readFileSync(join(SRC, '..', 'docs', 'architecture.md'), 'utf8');
    for (const p of Object.keys(ALLOWED)) expect(doc).toContain(`src/${p}/`);
  });
});
