// The promise the verbs return: a promise of the result that can also wait for the operation it starts.
import type { WaitOptions } from './options.ts';
import type { APIResult } from './result.ts';
import type { Operation } from './types.ts';

/** A promise of a result that can also wait for the operation it starts. */
export type ResultPromise<T> = Promise<APIResult<T>> & {
  /** `await api.post('images', { json }).wait()`: the request, then `result.wait()`. */
  wait(options?: WaitOptions): Promise<APIResult<Operation>>;
};

export function resultPromise<T>(promise: Promise<APIResult<T>>): ResultPromise<T> {
  const result = promise as ResultPromise<T>;
  // One method shared by every promise: a closure stored on the promise it captures keeps the
  // response reachable for longer than the caller does.
  result.wait = waitOnResult;
  return result;
}

function waitOnResult(this: unknown, options?: WaitOptions): Promise<APIResult<Operation>> {
  if (!(this instanceof Promise)) {
    throw new TypeError('wait() is a method of the request promise: call it as api.post(...).wait()');
  }
  return (this as Promise<APIResult>).then((result) => result.wait(options));
}
