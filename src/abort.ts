import type { Readable } from 'node:stream';

/** The caller's signal and the deadline as one, for one request. */
export interface AbortLink {
  /** What undici watches; null when there is neither a signal nor a deadline. */
  readonly signal: AbortSignal | null;
  /** Whether the deadline, not the caller, aborted the request. */
  readonly timedOut: boolean;
  /** A streamed body stays abortable by the caller until it closes. */
  keepUntil(stream: Readable): void;
  /** Clears the timer, and the caller's listener unless a stream kept it. */
  done(): void;
}

const UNLINKED: AbortLink = { signal: null, timedOut: false, keepUntil() {}, done() {} };

/** One AbortSignal for the caller's signal and the deadline, with nothing left behind once done. */
export function linkAbort(signal: AbortSignal | undefined, deadline: number | undefined): AbortLink {
  // Nothing to link: no AbortController, and no abort listener for undici to add and remove.
  if (signal === undefined && deadline === undefined) return UNLINKED;
  const controller = new AbortController();
  const forward = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', forward, { once: true });
  const state = { timedOut: false };
  const timer =
    deadline === undefined
      ? undefined
      : setTimeout(() => {
          state.timedOut = true;
          controller.abort(new Error(`timed out after ${deadline} ms`));
        }, deadline);
  let kept = false;
  const release = () => signal?.removeEventListener('abort', forward);
  return {
    signal: controller.signal,
    get timedOut() {
      return state.timedOut;
    },
    keepUntil(stream: Readable) {
      kept = true;
      stream.once('close', release);
    },
    done() {
      clearTimeout(timer);
      if (!kept) release();
    },
  };
}
