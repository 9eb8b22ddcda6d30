/** An AbortSignal, or anything with its `aborted` flag and 'abort' listener (fired at most once). */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', fn: () => void): void;
}
