import { describe, expect, it } from 'vitest';
import { createRouter } from '../../../src/proxy/router.js';
import { parseDuration, parseSize } from '../../../src/util/units.js';

describe('units', () => {
  it('parses sizes and durations', () => {
    expect(parseSize('256MiB')).toBe(256 * 1024 * 1024);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    expect(parseSize(1024)).toBe(1024);
    expect(parseSize('12 parsecs')).toBeUndefined();
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration(-1)).toBeUndefined();
  });
});

describe('router', () => {
  const route = createRouter([{ prefix: '/a' }, { prefix: '/a-b' }, { prefix: '/x/y' }]);
  it('matches whole segments, longest first, and keeps the rest verbatim', () => {
    expect(route('/a/b%2F?c=d')?.rest).toBe('/b%2F?c=d');
    expect(route('/a')?.rest).toBe('/');
    expect(route('/a?q')?.rest).toBe('/?q');
    expect(route('/a-b/z')?.upstream.prefix).toBe('/a-b');
    expect(route('/ab')).toBeUndefined();
    expect(route('/x/y/z')?.rest).toBe('/z');
    expect(route('/x')).toBeUndefined();
  });
});
