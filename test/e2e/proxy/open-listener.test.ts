import { afterEach, describe, expect, it } from 'vitest';
import { startRelay } from '../../support/helpers.js';

describe('listening beyond loopback', () => {
  let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
  afterEach(() => relay?.close());
  const upstreams = { a: { prefix: '/a', target: 'http://127.0.0.1:9', auth: { type: 'static', header: 'x-api-key', value: 'k' } } };
  const warned = () => relay!.logs.some((l) => l.includes('"event":"open_listener"'));

  it('without inbound authentication logs a warning at start', async () => {
    relay = await startRelay(upstreams, { listen: { host: '0.0.0.0', port: 0 } });
    expect(warned()).toBe(true);
  });

  it('with inbound keys, or on loopback, does not', async () => {
    relay = await startRelay(upstreams, { listen: { host: '0.0.0.0', port: 0 }, inbound: { apiKeys: ['k-0123456789'] } });
    expect(warned()).toBe(false);
    await relay.close();
    relay = await startRelay(upstreams);
    expect(warned()).toBe(false);
  });
});
