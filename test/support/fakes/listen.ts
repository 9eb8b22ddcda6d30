/** How every fake server listens: a loopback port, and a close() that also ends open connections. */
import type { AddressInfo, Server, Socket } from 'node:net';

export interface Listening {
  url: string;
  /** Destroys every open connection (kept-alive or upgraded ones too), then stops listening. */
  close(): Promise<void>;
}

export async function listenLoopback(server: Server, scheme: 'http' | 'https' = 'http'): Promise<Listening> {
  const sockets = new Set<Socket>();
  // 'connection' is the raw TCP socket, for TLS servers too: destroying it ends the TLS session.
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
