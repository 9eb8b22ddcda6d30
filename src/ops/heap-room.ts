/**
 * Room in V8's old generation while request bodies stream, on Node 20 (V8 11) only.
 *
 * Why: V8 11 counts every Buffer allocated since the last full collection against the old
 * generation's limit, until a young-generation collection frees it, and it starts that
 * collection only once ~32 MB of young Buffers have piled up. Each socket read of a request body
 * is such a Buffer. With ~10 MB live, V8's own limit leaves 16-20 MB of slack
 * (`--trace-incremental-marking`: `size/limit/slack 9MB / 25MB / 16MB`), so a body stream starts
 * a full collection every ~30 MB: 41 of them in four 300 MB uploads (`--trace-gc`), and
 * concurrent marking was 10-18 % of the proxy's CPU. With the old generation allowed to grow 4x
 * after a full collection, paired against the build without it: CPU per request 0.61-0.65x on
 * 8 MiB POSTs, 0.65-0.75x on 1 MiB, uploads 1.16-1.30x MB/s, for 5-7 MB more peak RSS (8x: no
 * full collection at all, but +43 MB under 1 MiB POSTs). Set only while bodies flow: a GET-only
 * load keeps V8's own growth, and with it the GET load's peak RSS (docs/performance.md).
 *
 * `--heap-growing-percent` is read by V8 each time it sets the next limit, at the end of a full
 * collection, so changing it at run time changes only that; 0 is V8's own factor.
 */
import { setFlagsFromString } from 'node:v8';

export interface HeapRoom {
  /**
   * A request body of `bytes` (Infinity: chunked) starts: make room, if not made already, for
   * bodies of MIN_BODY or more. Cheap: a test and a flag. Small bodies do not pile up young
   * Buffers faster than the JavaScript around them brings young collections.
   */
  body(bytes: number): void;
  /** Back to V8's own growth; no timer left behind. */
  stop(): void;
}

const NONE: HeapRoom = { body() {}, stop() {} };
/** Bodies smaller than this leave V8's growth alone. */
export const MIN_BODY = 16 * 1024;
const GROWING_FLAG = /--heap[-_]growing[-_]percent/;
/** 1 + 300/100: 4x, the most V8's own factor allows (8x: see above). */
export const BODY_GROWING_PERCENT = 300;

export interface HeapRoomOptions {
  v8Major: number;
  execArgv: readonly string[];
  nodeOptions?: string | undefined;
  /** How long without a new body before V8's own growth is back (checked every half of it). */
  quietMs?: number;
  setFlags?: (flags: string) => void;
  /** Told each time the room is made (true) or given back (false): the CLI logs it at debug. */
  onChange?: (open: boolean) => void;
  setInterval?: (fn: () => void, ms: number) => { unref(): unknown };
  clearInterval?: (t: { unref(): unknown }) => void;
}

export function createHeapRoom(o: HeapRoomOptions): HeapRoom {
  // Only V8 11 was measured so (V8 12+ keep 1.5x, set at start); a user's own factor is kept.
  if (o.v8Major !== 11 || o.execArgv.some((a) => GROWING_FLAG.test(a)) || GROWING_FLAG.test(o.nodeOptions ?? '')) return NONE;
  const set = o.setFlags ?? setFlagsFromString;
  const every = o.setInterval ?? setInterval;
  const clear = o.clearInterval ?? ((t) => clearInterval(t as NodeJS.Timeout));
  const quietMs = o.quietMs ?? 10_000;
  let timer: { unref(): unknown } | undefined;
  let seen = false;
  const close = () => {
    if (!timer) return;
    clear(timer);
    timer = undefined;
    set('--heap-growing-percent=0');
    o.onChange?.(false);
  };
  return {
    body(bytes) {
      if (bytes < MIN_BODY) return;
      seen = true;
      if (timer) return;
      set(`--heap-growing-percent=${BODY_GROWING_PERCENT}`);
      o.onChange?.(true);
      timer = every(() => {
        if (seen) seen = false;
        else close();
      }, quietMs / 2);
      timer.unref();
    },
    stop: close,
  };
}
