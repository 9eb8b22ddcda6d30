/**
 * Room in V8's old generation while request and answer bodies stream, on Node 20 (V8 11) only.
 *
 * Why: V8 11 counts every Buffer allocated since the last full collection against the old
 * generation's limit, until a young-generation collection frees it, and it starts that
 * collection only once ~32 MB of young Buffers have piled up. Each socket read of a request body
 * is such a Buffer, and so is each of an answer's (a download). With ~10 MB live, V8's own limit leaves 16-20 MB of slack
 * (`--trace-incremental-marking`: `size/limit/slack 9MB / 25MB / 16MB`), so a body stream starts
 * a full collection every ~30 MB: 41 of them in four 300 MB uploads (`--trace-gc`), and
 * concurrent marking was 10-18 % of the proxy's CPU. With the old generation allowed to grow 4x
 * after a full collection, paired against the build without it: CPU per request 0.61-0.65x on
 * 8 MiB POSTs, 0.65-0.75x on 1 MiB, uploads 1.16-1.30x MB/s, for 5-7 MB more peak RSS (8x: no
 * full collection at all, but +43 MB under 1 MiB POSTs). Set only while bodies flow: a GET-only
 * load keeps V8's own growth, and with it the GET load's peak RSS (docs/performance.md).
 *
 * What V8 checks is the slack (limit - size) less the Buffers since the last full collection,
 * against the young generation's capacity: the slack must exceed ~32 MB, whatever the factor.
 * A 4x cap left an idle proxy (~9 MB live) 33-37 MB of slack, and a 300 MB upload still ran
 * ~4 full collections (`--trace-incremental-marking`: `9MB / 42MB / 33MB`); the room is
 * therefore set in bytes, ROOM_BYTES over the live size, up to 7x (none then: 1 in four uploads).
 * A factor applies to whatever size the heap has at the next full collection, so the live size
 * is read again every second while the room is open.
 *
 * `--heap-growing-percent` is read by V8 each time it sets the next limit, at the end of a full
 * collection, so changing it at run time changes only that. Given back, it is the 1.5x that
 * node-settings.ts sets at start (0 would be V8's own factor).
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { userSetsGrowth } from './node-settings.js';

export interface HeapRoom {
  /**
   * A request body, or an answer body that streams, of `bytes` (Infinity: unknown) starts: make
   * room, if not made already, for bodies of MIN_BODY or more. Cheap: a test and a flag. Small bodies do not pile up young
   * Buffers faster than the JavaScript around them brings young collections.
   */
  body(bytes: number): void;
  /** Back to V8's own growth; no timer left behind. */
  stop(): void;
}

const NONE: HeapRoom = { body() {}, stop() {} };
/** Bodies smaller than this leave V8's growth alone. */
export const MIN_BODY = 16 * 1024;
/** 1 + 600/100: 7x at most, reached by an old generation of 8 MiB or less (8x: see above). */
export const BODY_GROWING_PERCENT = 600;
/**
 * The room is bounded in bytes, not as a factor: 4x of a large live old generation would be
 * hundreds of MB, and 4x of a small one too little. The young Buffers need ~32 MB of slack;
 * 48 MiB leaves some over. A process whose old generation holds 8 MiB or less gets 7x; a larger
 * one the factor that gives 48 MiB, and one over ~96 MiB none (the base factor, 1.5x, gives as
 * much there).
 */
export const ROOM_BYTES = 48 * 1024 * 1024;

/** The growth percent that gives `oldBytes` of live old generation ROOM_BYTES of room, at most 7x; never under `base`. */
export function roomPercent(oldBytes: number, base = 0): number {
  const p = Math.min(BODY_GROWING_PERCENT, Math.round((100 * ROOM_BYTES) / Math.max(oldBytes, 1)));
  return p < 50 ? base : Math.max(p, base);
}

function oldSpaceUsed(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;
}

export interface HeapRoomOptions {
  v8Major: number;
  execArgv: readonly string[];
  nodeOptions?: string | undefined;
  /** How long without a new body before V8's own growth is back. */
  quietMs?: number;
  /** How often, while the room is open, the live size is read again and the quiet spell counted. */
  checkMs?: number;
  setFlags?: (flags: string) => void;
  /** Bytes in use in V8's old space (default: from node:v8), read when the room is made and at each check. */
  oldBytes?: () => number;
  /** The growth percent set at start, which the room goes back to (node-settings.ts: 50); 0: V8's own. */
  basePercent?: number;
  /** Told each time the growth percent is set (basePercent: the room given back): the CLI logs it at debug. */
  onChange?: (percent: number) => void;
  setInterval?: (fn: () => void, ms: number) => { unref(): unknown };
  clearInterval?: (t: { unref(): unknown }) => void;
}

export function createHeapRoom(o: HeapRoomOptions): HeapRoom {
  // Only V8 11 was measured so (V8 12+ keep 1.5x, set at start); a user's own factor is kept.
  if (o.v8Major !== 11 || userSetsGrowth(o.execArgv, o.nodeOptions)) return NONE;
  const set = o.setFlags ?? setFlagsFromString;
  const every = o.setInterval ?? setInterval;
  const clear = o.clearInterval ?? ((t) => clearInterval(t as NodeJS.Timeout));
  const quietMs = o.quietMs ?? 10_000;
  const checkMs = o.checkMs ?? 1_000;
  const used = o.oldBytes ?? oldSpaceUsed;
  let timer: { unref(): unknown } | undefined;
  let seen = false;
  let quiet = 0;
  const base = o.basePercent ?? 0;
  let percent = base;
  const apply = (p: number) => {
    if (p === percent) return;
    percent = p;
    set(`--heap-growing-percent=${p}`);
    o.onChange?.(p);
  };
  const close = () => {
    if (!timer) return;
    clear(timer);
    timer = undefined;
    apply(base);
  };
  return {
    body(bytes) {
      if (bytes < MIN_BODY) return;
      seen = true;
      if (timer) return;
      apply(roomPercent(used(), base));
      quiet = 0;
      timer = every(() => {
        if (seen) quiet = 0;
        else if ((quiet += checkMs) >= quietMs) return close();
        seen = false;
        // The live old generation moves with the load: keep the room near ROOM_BYTES.
        apply(roomPercent(used(), base));
      }, checkMs);
      timer.unref();
    },
    stop: close,
  };
}
