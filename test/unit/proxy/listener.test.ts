import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../../src/config/load.js';
import { connectionCap, descriptorLimit } from '../../../src/proxy/listener.js';

const limits = (text: string) => () => text;
const config = (maxConnections: number, upstreams = 2) => compileConfig({
  limits: { maxConnections, maxConcurrentPerUpstream: 100 },
  upstreams: Object.fromEntries(Array.from({ length: upstreams }, (_, i) => [`u${i}`, { prefix: `/u${i}`, target: 'https://x.example', auth: { type: 'static', header: 'x-key', value: 'k' } }])),
}, { env: {} });

describe('limits.maxConnections against the open-files limit', () => {
  it('reads the soft limit from /proc/self/limits', () => {
    expect(descriptorLimit(limits('Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n'))).toBe(1024);
    expect(descriptorLimit(limits('Max open files            unlimited            unlimited            files\n'))).toBeUndefined();
    expect(descriptorLimit(() => { throw new Error('no /proc'); })).toBeUndefined();
  });

  it('leaves room for every upstream pool, token connections, spool files and the admin port', () => {
    expect(connectionCap(config(10_000), 1_048_576)).toBe(10_000);
    // 1024 - (2 x (100 + 4) + 64) = 752
    expect(connectionCap(config(10_000), 1024)).toBe(752);
    expect(connectionCap(config(500), 1024)).toBe(500);
    expect(connectionCap(config(10_000), undefined)).toBe(10_000);
    expect(connectionCap(config(10_000, 20), 1024)).toBe(1);
  });
});
