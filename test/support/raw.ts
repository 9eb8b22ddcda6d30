/** Sends raw bytes and collects the raw answer: for requests no client library would send. */
import { connect } from 'node:net';

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
