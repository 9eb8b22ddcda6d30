/** Sends raw bytes and collects the raw answer: for requests no client library would send. */
import { connect, type Socket } from 'node:net';

export function raw(url: string, text: string, waitMs = 1500): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1', () => s.write(text));
    let out = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, waitMs);
    s.on('data', (d) => {
      out += d;
      // One complete answer with a Content-Length body is enough.
      const m = /content-length: (\d+)\r\n/i.exec(out);
      const head = out.indexOf('\r\n\r\n');
      if (m && head >= 0 && Buffer.byteLength(out.slice(head + 4)) >= Number(m[1])) done();
    });
    s.on('end', done);
    s.on('error', reject);
  });
}

/** The status of a raw HTTP/1.1 answer. */
export const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
/** The tokenrelay error code in a raw answer's JSON body. */
export const codeOf = (answer: string) => /"code":"([A-Z_]+)"/.exec(answer)?.[1];

/** A raw client that stays open: write, read everything, wait for a pattern or the close. */
export function rawClient(url: string) {
  const { port } = new URL(url);
  const s: Socket = connect(Number(port), '127.0.0.1');
  let got = '';
  let closed = false;
  s.on('data', (d) => (got += d));
  s.on('close', () => (closed = true));
  s.on('error', () => {});
  return {
    socket: s,
    connected: new Promise<void>((r) => s.once('connect', () => r())),
    write: (t: string | Buffer) => s.write(t),
    get text() {
      return got;
    },
    get closed() {
      return closed;
    },
    /** Waits until `test()` holds or `ms` passed; what `test()` says then. */
    async until(test: () => boolean, ms: number): Promise<boolean> {
      const end = Date.now() + ms;
      while (!test() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      return test();
    },
  };
}
export type RawClient = ReturnType<typeof rawClient>;
