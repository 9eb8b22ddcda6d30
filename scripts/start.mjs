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
await import(cli);
