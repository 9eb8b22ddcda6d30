import { describe, expect, it } from 'vitest';
import { ClientGone } from '../../../src/util/abort.js';

describe('ClientGone (the forwarder\'s per-request abort signal)', () => {
  it('calls each listener once, on the first fire only, and reads aborted after', () => {
    const gone = new ClientGone();
    const heard: string[] = [];
    gone.addEventListener('abort', () => heard.push('a'));
    gone.addEventListener('abort', () => heard.push('b'));
    expect(gone.aborted).toBe(false);
    gone.fire();
    gone.fire();
    expect(heard).toEqual(['a', 'b']);
    expect(gone.aborted).toBe(true);
  });
});
