/**
 * V8 and allocator settings for a small, steady footprint under load (docs/performance.md).
 * Applied by the entry (cli.ts) before the rest of tokenrelay is loaded.
 */
import { realpathSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

/**
 * Young-generation semi-space size (MB) by V8 version, from the benchmark's full runs (peak RSS
 * under its load; requests/s against the undici pass-through): Node 22 (V8 12) 8 MB: 115 MB,
 * 0.94x (4 MB: 108 MB, 0.87x; V8's own: 131 MB); Node 24 (V8 13) 4 MB: 116 MB, 1.00x (8 MB:
 * 128 MB); Node 26 (V8 14) 4 MB: 117 MB, 0.90x (the image; V8's own: 159-169 MB).
 */
export function semiSpaceMb(v8Major: number): number {
  return v8Major === 12 ? 8 : 4;
}

const SEMI_SPACE_FLAG = /--max[-_]semi[-_]space[-_]size/;

export interface ProcessFacts {
  v8Major: number;
  /**
   * Whether the entry is the script node was started with (`node dist/cli.js`, the bin,
   * `npm start`), and nothing else: not `node -e`, a script read from stdin, or a process manager
   * that loaded it into a process of its own or talks to it over an IPC channel.
   */
  ranDirectly: boolean;
  execPath: string;
  execArgv: readonly string[];
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
}

/**
 * How to restart this process so that V8 sizes its young generation for a proxy, or undefined
 * when there is no need. On V8 12 and later (Node 22, 24, 26) the young generation may grow to
 * ~55 MB under load (V8 11, Node 20: ~34 MB), which took the peak RSS under the benchmark's
 * load to 131 MB (Node 22) and 159-169 MB (Node 26), against 115-117 MB with the sizes above.
 * That size can only be set before V8 starts. A size the user chose (node flag or
 * NODE_OPTIONS) is kept. glibc's arena count, read at process start too, is capped at two
 * unless set: on Node 26 each busy thread otherwise got its own malloc arena.
 */
export function restartFor({ v8Major, ranDirectly, execPath, execArgv, argv, env }: ProcessFacts): { args: string[]; env: NodeJS.ProcessEnv } | undefined {
  if (v8Major < 12 || !ranDirectly) return undefined;
  if (execArgv.some((a) => SEMI_SPACE_FLAG.test(a)) || SEMI_SPACE_FLAG.test(env.NODE_OPTIONS ?? '')) return undefined;
  return {
    args: [execPath, `--max-semi-space-size=${semiSpaceMb(v8Major)}`, ...execArgv, ...argv.slice(1)],
    env: { ...env, MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2' },
  };
}

/** The bin is a symlink to dist/cli.js: compare real paths. */
function sameFile(a: string | undefined, b: string): boolean {
  if (!a) return false;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/**
 * Sets the V8 flags that can be set at run time, and, where V8's young generation needs a size
 * set at start, replaces this process with one started with it (`process.execve`, Node 22.15+:
 * same PID, same stdio and signals, 50-120 ms more at start). Without `execve` (Node 22.0-22.14)
 * tokenrelay runs as started.
 */
export function applyNodeSettings(entry: string): void {
  const v8Major = Number(process.versions.v8.split('.')[0]);
  const execve = (process as unknown as { execve?: Execve }).execve;
  const ranDirectly = sameFile(process.argv[1], entry) && process.env.NODE_CHANNEL_FD === undefined;
  const restart = restartFor({ v8Major, ranDirectly, execPath: process.execPath, execArgv: process.execArgv, argv: process.argv, env: process.env });
  if (restart && typeof execve === 'function') {
    try {
      execve(process.execPath, restart.args, restart.env);
    } catch {
      // Not allowed here (a sandbox, a seccomp profile): run as started, with V8's own sizes.
    }
  }

  // undici parses HTTP answers with llhttp compiled to WebAssembly, and V8 recompiles the hot
  // parser with its optimising compiler (~37 MB of compiler memory for a moment, valgrind
  // massif). Baseline-only (Liftoff) code was set on Node 20 for that burst, for ~2-5 % of
  // requests/s; with 1.5x growth below, the GET load's peak is the same either way (114 MB,
  // paired) and the optimised parser is kept (docs/performance.md). On Node 24 and 26 there is
  // no such burst, and on Node 26 Liftoff-only cost requests/s (0.84x the undici pass-through
  // against 0.95x, paired).
  //
  // The old generation's growth after a full collection: 1.5x keeps old space near 20 MB under
  // a GET load instead of 40 (V8's own factor goes up to 4x): the GET load's peak RSS. V8 11
  // (Node 20) also counts young Buffers not yet collected against that limit, so while request
  // bodies stream (whose socket chunks are such Buffers) 1.5x started a full collection every
  // ~35 MB of body: the CLI gives the old generation more room then (ops/heap-room.ts).
  const growing = heapGrowingFlag(process.execArgv, process.env.NODE_OPTIONS);
  if (growing) setFlagsFromString(growing);
}

const HEAP_GROWING_FLAG = /--heap[-_]growing[-_]percent/;
/** 1.5x: the growth factor tokenrelay sets at start (the heap room goes back to it). */
export const BASE_GROWING_PERCENT = 50;

/** The user gave `--heap-growing-percent` (either spelling) on node's command line or in NODE_OPTIONS: theirs is kept. */
export function userSetsGrowth(execArgv: readonly string[], nodeOptions = ''): boolean {
  return execArgv.some((a) => HEAP_GROWING_FLAG.test(a)) || HEAP_GROWING_FLAG.test(nodeOptions);
}

/** The old generation's growth factor to set, if any (see applyNodeSettings); a user's own is kept. */
export function heapGrowingFlag(execArgv: readonly string[], nodeOptions = ''): string | undefined {
  if (userSetsGrowth(execArgv, nodeOptions)) return undefined;
  return `--heap-growing-percent=${BASE_GROWING_PERCENT}`;
}
