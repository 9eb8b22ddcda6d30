// Proves the image's runtime stage without a Docker engine: production dependencies alone
// (npm ci --omit=dev) in an empty directory with the built dist/, then tokenrelay started from
// there proxies a request with a token injected. A runtime import of a dev dependency fails it.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(join(root, 'dist', 'cli.js'))) throw new Error('build first: npm run build');
const dir = mkdtempSync(join(tmpdir(), 'tokenrelay-runtime-'));
const fail = (msg) => {
  process.stderr.write(`runtime-check: FAILED: ${msg}\n`);
  process.exit(1);
};

try {
  for (const f of ['package.json', 'package-lock.json']) cpSync(join(root, f), join(dir, f));
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  execFileSync(npm, ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });

  // A minimal Akool: a token endpoint and one API call that reports the Authorization it got.
  let seen;
  const fake = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/open/v3/getToken') return res.end(JSON.stringify({ code: 1000, token: 'runtime-check-token' }));
      seen = req.headers.authorization;
      res.end(JSON.stringify({ code: 1000, msg: 'OK', data: {} }));
    });
  });
  await new Promise((r) => fake.listen(0, '127.0.0.1', r));
  writeFileSync(join(dir, 'proxy.config.yaml'), `listen: { port: 0 }\nupstreams:\n  akool:\n    prefix: /akool\n    target: http://127.0.0.1:${fake.address().port}\n    auth: { type: akool, clientId: a, clientSecret: b }\n`);

  const proc = spawn(process.execPath, ['dist/cli.js', '--config', 'proxy.config.yaml'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, NODE_ENV: 'production' } });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const port = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /"event":"listening".*?"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`tokenrelay exited ${code}: ${stderr}`)));
    setTimeout(() => reject(new Error('tokenrelay did not start in 10 s')), 10_000).unref();
  }).catch((err) => fail(err.message));
  const res = await fetch(`http://127.0.0.1:${port}/akool/api/open/v3/voice/list`);
  const json = await res.json();
  if (res.status !== 200 || json.code !== 1000) fail(`unexpected answer ${res.status} ${JSON.stringify(json)}`);
  if (seen !== 'Bearer runtime-check-token') fail(`the token was not injected (saw ${seen})`);
  proc.removeAllListeners('exit');
  const code = await new Promise((r) => {
    proc.on('exit', r);
    proc.kill('SIGTERM');
  });
  if (code !== 0) fail(`exit code ${code} after SIGTERM`);
  fake.close();
  process.stdout.write('runtime-check: ok (production dependencies only: started, proxied with a token, stopped cleanly on SIGTERM)\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
