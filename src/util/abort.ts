/** An AbortSignal, or anything with its `aborted` flag and 'abort' listener (fired at most once). */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', fn: () => void): void;
}

/**
 * Fired when the client goes away before its answer is complete: aborts the upstream request.
 * A minimal signal (the upstream call and the limiter take any AbortLike): an AbortController,
 * or even an EventEmitter, per request showed up in the profile.
 */
export class ClientGone implements AbortLike {
  aborted = false;
  private listeners: Array<() => void> = [];
  addEventListener(_type: 'abort', fn: () => void): void {
    this.listeners.push(fn);
  }
  fire(): void {
    if (this.aborted) return;
    this.aborted = true;
    for (const fn of this.listeners.splice(0)) fn();
  }
}
