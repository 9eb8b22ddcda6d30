import { describe, expect, it } from 'vitest';
import { heapGrowingFlag, restartFor, semiSpaceMb, type ProcessFacts } from '../../../src/ops/node-settings.js';

const facts = (over: Partial<ProcessFacts> = {}): ProcessFacts => ({
  v8Major: 14, ranDirectly: true, execPath: '/usr/bin/node', execArgv: [], argv: ['/usr/bin/node', '/app/dist/cli.js', '--config', 'c.yaml'], env: { PATH: '/bin' }, ...over,
});

describe('node settings: when to restart with a young-generation size', () => {
  it('V8 11 (Node 20) runs as started', () => {
    expect(restartFor(facts({ v8Major: 11 }))).toBeUndefined();
  });

  it('V8 12 and later: the same script and arguments, the semi-space flag first, node flags kept', () => {
    const r = restartFor(facts({ v8Major: 12, execArgv: ['--enable-source-maps'] }));
    expect(r?.args).toEqual(['/usr/bin/node', '--max-semi-space-size=8', '--enable-source-maps', '/app/dist/cli.js', '--config', 'c.yaml']);
    expect(r?.env).toEqual({ PATH: '/bin', MALLOC_ARENA_MAX: '2' });
  });

  it('the size by V8 version: 8 MB on V8 12 (Node 22), 4 MB on 13 and later (Node 24, 26; the image)', () => {
    expect([12, 13, 14, 15].map(semiSpaceMb)).toEqual([8, 4, 4, 4]);
    expect(restartFor(facts({ v8Major: 14 }))?.args[1]).toBe('--max-semi-space-size=4');
  });

  it('only when the entry is the script node was started with (not -e, stdin, a process manager)', () => {
    expect(restartFor(facts({ ranDirectly: false }))).toBeUndefined();
  });

  it('keeps a malloc arena count that is set', () => {
    expect(restartFor(facts({ env: { MALLOC_ARENA_MAX: '8' } }))?.env.MALLOC_ARENA_MAX).toBe('8');
  });

  it('a semi-space size the user chose, as a node flag (either spelling) or in NODE_OPTIONS, is kept', () => {
    expect(restartFor(facts({ execArgv: ['--max-semi-space-size=16'] }))).toBeUndefined();
    expect(restartFor(facts({ execArgv: ['--max_semi_space_size=16'] }))).toBeUndefined();
    expect(restartFor(facts({ env: { NODE_OPTIONS: '--max-old-space-size=200 --max-semi-space-size=2' } }))).toBeUndefined();
  });

  it('a restarted process does not restart again', () => {
    const r = restartFor(facts())!;
    expect(restartFor(facts({ execArgv: r.args.slice(1, 2), argv: [r.args[0]!, ...r.args.slice(2)], env: r.env }))).toBeUndefined();
  });
});

describe('node settings: the old generation growth factor', () => {
  it('1.5x on every V8 (while bodies stream on Node 20 the heap room raises it: heap-room.test.ts)', () => {
    expect(heapGrowingFlag([])).toBe('--heap-growing-percent=50');
  });
  it('a factor the user chose, as a node flag (either spelling) or in NODE_OPTIONS, is kept', () => {
    expect(heapGrowingFlag(['--heap-growing-percent=100'])).toBeUndefined();
    expect(heapGrowingFlag(['--heap_growing_percent=0'])).toBeUndefined();
    expect(heapGrowingFlag([], '--heap-growing-percent=20')).toBeUndefined();
  });
});
