import { redactUrl } from './debug.ts';
import type { APIResult } from './result.ts';
import { APIConnectionError, APIException, APINotFoundException } from './errors.ts';
import type { Operation } from './types.ts';

/** Options of `result.waitUntilDone()`. */
export interface WaitUntilDoneOptions {
  /**
   * One overall deadline in seconds for the whole wait, however many long
   * polls it takes. Past it the promise rejects with `OperationTimeoutError`
   * (the operation itself goes on). `-1` or undefined waits until done.
   */
  timeout?: number;
  /** Aborts the wait: the in-flight poll is cancelled and the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Called with the operation whenever its `metadata` (where LXD puts
   * progress: `download_progress`, `progress`, `*_unpack_progress`, an
   * exec's `return`, ...) differs from the last state seen. See
   * `operationProgress()` for a one-line summary.
   */
  onProgress?: (operation: Operation, result: APIResult<Operation>) => void;
  /**
   * Seconds each long poll lasts when `onProgress` is given: LXD's `/wait`
   * answers at completion or at its timeout, so progress is sampled at this
   * interval, over the same single request at a time (no parallel GETs).
   * Without `onProgress`, polls last the API's `waitTimeout`.
   * @default 1
   */
  progressInterval?: number;
}

/** Options of `result.cancel()`. */
export interface CancelOptions {
  /** Fetch the operation's current state first, instead of trusting the latest one known. @default false */
  refresh?: boolean;
  signal?: AbortSignal;
}

/** The overall deadline of `waitUntilDone()` passed with the operation still running. */
export class OperationTimeoutError extends Error {
  override name = 'OperationTimeoutError';
  readonly code = 'ERR_LXD_OPERATION_TIMEOUT';
  /** The operation's URL. */
  readonly operation: string;
  /** Seconds waited. */
  readonly waited: number;
  /** The latest state seen, if any. */
  readonly last: Operation | undefined;

  constructor(operation: string, waited: number, last: Operation | undefined) {
    const state = last ? ` (${last.description || last.class}, still ${last.status} ${last.status_code})` : '';
    super(`operation ${operation}${state} did not finish within ${waited} s`);
    this.operation = operation;
    this.waited = waited;
    this.last = last;
  }
}

/**
 * LXD no longer knows the operation: it answers 404 on `/wait`. LXD forgets
 * an operation about 5 seconds after it finished, so this usually means it
 * finished (successfully or not) before the wait began; its outcome has to
 * be read from the objects it changed.
 */
export class OperationGoneError extends APINotFoundException {
  override name = 'OperationGoneError';
  override readonly code: string = 'ERR_LXD_OPERATION_GONE';
}

/** `may_cancel` is false in the latest known state: nothing was sent. */
export class OperationNotCancellableError extends Error {
  override name = 'OperationNotCancellableError';
  readonly code = 'ERR_LXD_NOT_CANCELLABLE';
  readonly operation: string;
  constructor(operation: string, state: Operation | undefined) {
    super(
      state
        ? `operation ${operation} (${state.description || state.class}, ${state.status}) cannot be cancelled: LXD reports may_cancel false`
        : `operation ${operation} cannot be cancelled: its state is unknown (pass refresh: true to fetch it)`,
    );
    this.operation = operation;
  }
}

// The latest operation state seen for a result, by waitUntilDone() and cancel().
const latest = new WeakMap<APIResult, Operation>();

/** The latest known state of the operation a result started or describes. */
export function latestOperation(result: APIResult): Operation | undefined {
  return latest.get(result) ?? (isOperation(result.metadata) ? result.metadata : undefined);
}

/**
 * Long-polls `<operation>/wait` until the operation leaves the running
 * states (`status_code` < 200), within one overall deadline. Resolves with
 * the final `/wait` result; a failed or cancelled operation rejects with
 * `APIException` (as `wait()` does), a 404 with `OperationGoneError`.
 */
export async function waitUntilDone(result: APIResult, options: WaitUntilDoneOptions = {}): Promise<APIResult<Operation>> {
  const url = operationUrl(result);
  const waitPath = operationPath(url, '/wait');
  const { signal, onProgress } = options;
  const limit = options.timeout === undefined || options.timeout < 0 ? undefined : options.timeout;
  const interval = Math.max(1, Math.ceil(options.progressInterval ?? 1));
  const started = performance.now();
  let state = latestOperation(result);
  let seen = JSON.stringify(state?.metadata ?? null);
  for (;;) {
    const remaining = limit === undefined ? undefined : limit * 1000 - (performance.now() - started);
    if (remaining !== undefined && remaining <= 0) throw new OperationTimeoutError(url, limit as number, state);
    // One long poll: the sampling interval with onProgress, else the API's waitTimeout (-1: no limit), never past the deadline.
    let seconds = onProgress ? interval : result.api.waitTimeout;
    if (remaining !== undefined) seconds = seconds < 0 ? Math.ceil(remaining / 1000) : Math.min(seconds, Math.ceil(remaining / 1000));
    let answer: APIResult<Operation>;
    try {
      // The request's own deadline and signal: an abort rejects with its reason and leaves no timer.
      answer = await result.api.get<Operation>(waitPath, {
        query: { timeout: seconds },
        serverTimeout: seconds,
        ...(signal ? { signal } : {}),
        ...(remaining !== undefined ? { timeout: remaining } : {}),
      });
    } catch (error) {
      if (error instanceof APIConnectionError && error.code === 'ERR_LXD_TIMEOUT' && remaining !== undefined) {
        throw new OperationTimeoutError(url, limit as number, state);
      }
      if (error instanceof APINotFoundException && error.status === 404) {
        const before = state ? `; last seen ${state.status} (${state.status_code})` : '';
        throw new OperationGoneError(
          `operation ${url} is no longer known to LXD (404 on /wait): it finished more than ~5 s ago and was cleaned up, or never existed here${before}`,
          error.result,
          { cause: error },
        );
      }
      if (error instanceof APIException && isOperation(error.result.metadata)) latest.set(result, error.result.metadata);
      throw error;
    }
    state = answer.metadata;
    latest.set(result, state);
    const now = JSON.stringify(state.metadata ?? null);
    if (onProgress && now !== seen) onProgress(state, answer);
    seen = now;
    if (state.status_code >= 200) return answer;
  }
}

/**
 * Cancels the operation with `DELETE <operation>` when its latest known
 * state (or, with `refresh`, its current one) says `may_cancel`; otherwise
 * rejects with `OperationNotCancellableError` without sending anything.
 */
export async function cancelOperation(result: APIResult, options: CancelOptions = {}): Promise<APIResult> {
  const url = operationUrl(result);
  const request = options.signal ? { signal: options.signal } : {};
  if (options.refresh) {
    const current = await result.api.get<Operation>(url, request);
    latest.set(result, current.metadata);
  }
  const state = latestOperation(result);
  if (!state?.may_cancel) throw new OperationNotCancellableError(url, state);
  return result.api.delete(url, request);
}

/**
 * A one-line progress summary of an operation's metadata, or undefined:
 * the `progress` object of newer servers (`stage`, `percent`, `speed`), else
 * the first `*_progress` string (`download_progress`,
 * `create_instance_from_image_unpack_progress`, ...).
 */
export function operationProgress(operation: Operation): string | undefined {
  const metadata = operation.metadata as Record<string, unknown> | null;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const progress = metadata.progress;
  if (typeof progress === 'object' && progress !== null) {
    const { stage, percent, speed } = progress as Record<string, unknown>;
    return [stage, percent !== undefined ? `${String(percent)}%` : undefined, speed].filter((part) => part !== undefined && part !== '').join(' ');
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (key.endsWith('progress') && typeof value === 'string') return value;
  }
  return undefined;
}

/**
 * The URL of the operation a result started (or, for `GET /1.0/operations/<id>`,
 * describes); throws when there is none.
 */
export function operationUrl(result: APIResult): string {
  if (result.operation !== undefined) return result.operation;
  const op = isOperation(result.metadata) ? result.metadata : undefined;
  if (op && result.request.url.includes('/operations/')) return `/${result.api.defaultVersion}/operations/${op.id}`;
  const what = result.data ? `a ${result.data.type} response` : 'a non-JSON response';
  throw new Error(`${result.request.method} ${redactUrl(result.request.url)} returned ${what} with no operation to wait for`);
}

/**
 * `<operation><suffix>`, keeping the operation URL's own query (a cluster
 * member's forwarded operations carry `?project=`), plus `params`:
 * `/1.0/operations/<id>/wait?project=default`.
 */
export function operationPath(url: string, suffix: string, params?: Record<string, string>): string {
  // Most operation URLs carry no query: no URLSearchParams round trip.
  if (params === undefined && !url.includes('?')) return `${url}${suffix}`;
  const [path, query = ''] = url.split('?', 2) as [string, string?];
  const search = new URLSearchParams(query);
  for (const [name, value] of Object.entries(params ?? {})) search.set(name, value);
  const text = search.toString();
  return `${path}${suffix}${text ? `?${text}` : ''}`;
}

function isOperation(value: unknown): value is Operation {
  return typeof value === 'object' && value !== null && typeof (value as Operation).id === 'string' && typeof (value as Operation).status_code === 'number';
}
