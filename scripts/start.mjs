// `npm start`: build dist/ when it is missing or older than src/, then run the CLI in this
// process (so signals reach it directly) with ./proxy.config.yaml unless told otherwise.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');
const newest = (dir) => Math.max(...readdirSync(dir, { recursive: true }).map((f) => statSync(join(dir, String(f))).mtimeMs));
if (!existsSync(cli) || newest(join(root, 'src')) > statSync(cli).mtimeMs) {
  process.stderr.write('tokenrelay: building dist/ …\n');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
}
const args = process.argv.slice(2);
if (!args.includes('--config') && !args.includes('-c') && !process.env.TOKENRELAY_CONFIG) args.unshift('--config', 'proxy.config.yaml');
process.argv = [process.argv[0], cli, ...args];
// npm does not pass SIGTERM on to the script it runs: `kill <npm>` ends npm and leaves this
// process listening, re-parented to PID 1, with no drain. So when the parent goes away, stop as
// if told to: drain and exit, as on SIGTERM.
const parent = process.ppid;
const watch = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(watch);
  process.kill(process.pid, 'SIGTERM');
}, 200);
watch.unref();
await import(cli);
