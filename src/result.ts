// One transaction with the server, and what can be done with the operation it started: wait on it,
// wait until it is done, cancel it. The `Connection` it waits through is declared here too, because
// each refers to the other: a connection's requests resolve with results, and a result keeps the
// connection that made it.
import type { Readable } from 'node:stream';
import type { WebSocket } from 'undici';
import {
  APIConnectionError,
  APIException,
  APINotFoundException,
  apiException,
  OperationGoneError,
  OperationNotCancellableError,
  OperationTimeoutError,
} from './errors.ts';
import type { Logger } from './log.ts';
import type { CancelOptions, RequestOptions, WaitOptions, WebSocketOptions } from './options.ts';
import { describeBytes, dumpJson, redactUrl } from './redact.ts';
import type { RequestRecord, ResponseRecord, ResultFields } from './response.ts';
import type { Envelope, Operation, ServerInfo } from './types.ts';
import { operationPath } from './url.ts';
import { failureOf, isRecord, metadataError } from './validate.ts';

/**
 * What results and the features (operations, events, exec) need of a client: one request, one
 * websocket, the settings they read, the logger. `API` implements it.
 */
export interface Connection {
  /** The endpoint requests go to first. */
  readonly endpoint: string;
  readonly defaultVersion: string;
  readonly waitTimeout: number;
  readonly log: Logger;
  /** Sends one request; resolves with its validated result. */
  request<T = unknown>(method: string, url: string, options?: RequestOptions): Promise<APIResult<T>>;
  /** Opens a websocket on the client's transport; resolves once open. */
  websocket(url: string, options?: WebSocketOptions): Promise<WebSocket>;
  /** What the server is (`GET /1.0`, read once). */
  server(): Promise<ServerInfo>;
}

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

/** One HTTP transaction with LXD: the request, the response and its envelope. */
export class APIResult<T = unknown> {
  /** The connection (the API) that made the request. */
  readonly api: Connection;
  /** The parsed JSON envelope; undefined for a non-JSON response. */
  readonly data: Envelope<T> | undefined;
  /** The envelope's `metadata`; undefined for a non-JSON response. */
  readonly metadata: T;
  /** The HTTP status. */
  readonly status: number;
  /** The endpoint that answered: with several cluster members, the one that took the request. */
  readonly endpoint: string;
  readonly request: RequestRecord;
  readonly response: ResponseRecord;
  /** The `ETag` header, to send back as `ifMatch`. */
  readonly etag: string | undefined;
  /** The operation URL of an async (202) response. */
  readonly operation: string | undefined;
  /** The bytes of a non-JSON response (a file pull, an exec log). */
  readonly body: Uint8Array | undefined;
  /** The unread body of a non-JSON response when the request set `stream: true`. */
  readonly stream: Readable | undefined;
  readonly #problem: ResultFields['problem'];
  /** The latest state of the operation seen by `waitUntilDone()` and `cancel()`. */
  #latest: Operation | undefined;

  constructor(api: Connection, fields: ResultFields) {
    this.api = api;
    this.request = fields.request;
    this.response = fields.response;
    this.status = fields.response.status;
    this.endpoint = fields.endpoint ?? api.endpoint;
    this.data = fields.data as Envelope<T> | undefined;
    this.metadata = (isRecord(fields.data) ? fields.data.metadata : undefined) as T;
    this.body = fields.body;
    this.stream = fields.stream;
    this.etag = header(fields.response.headers.etag);
    const operation = isRecord(fields.data) ? fields.data.operation : undefined;
    this.operation =
      typeof operation === 'string' && operation !== '' ? operation : header(fields.response.headers.location);
    this.#problem = fields.problem;
  }

  /** `METHOD URL` and the pretty-printed JSON body, secrets redacted. */
  requestSummary(): string {
    const lines = [`${this.request.method} ${redactUrl(this.request.url)}`];
    if (this.request.body !== undefined) lines.push(dumpJson(this.request.body));
    else if (this.request.raw !== undefined) lines.push(describeBytes(this.request.raw));
    return lines.join('\n');
  }

  /** `HTTP/<status>` and the pretty-printed JSON envelope, secrets redacted. */
  responseSummary(): string {
    const lines = [`HTTP/${this.status}`];
    if (this.data !== undefined) lines.push(dumpJson(this.data));
    else if (this.body !== undefined) lines.push(describeBytes(this.body));
    else if (this.stream !== undefined) lines.push('<stream>');
    return lines.join('\n');
  }

  /**
   * Throws `APINotFoundException` on 404, `APIException` on any other status
   * >= 400, on a response that is not an LXD answer, and when the metadata
   * chain holds a `status_code` >= 400 (a failed operation).
   */
  validate(): void {
    const failure = failureOf({ status: this.status, data: this.data, body: this.body, problem: this.#problem });
    if (failure) throw apiException(this, failure.text, failure.cause);
  }

  /**
   * Follows the `metadata` chain (envelope, operation, the operation's own
   * metadata, ...) and throws `APIException` at the first object whose
   * `status_code` is >= 400.
   */
  validateMetadata(data: unknown): void {
    const err = metadataError(data);
    if (err !== undefined) throw apiException(this, err);
  }

  /** The latest known state of the operation this result started or describes. */
  get latestOperation(): Operation | undefined {
    return this.#latest ?? (isOperation(this.metadata) ? this.metadata : undefined);
  }

  /**
   * Long-polls `<operation>/wait?timeout=<timeout>` once and returns that
   * result, validated: a failed operation rejects. The operation is the one
   * this result started, or the one a `GET /1.0/operations/<id>` describes. When the timeout runs
   * out first, it resolves with the operation still running (103).
   */
  wait(options: WaitOptions = {}): Promise<APIResult<Operation>> {
    let url: string;
    try {
      url = this.#operationUrl();
    } catch (error) {
      return Promise.reject(error);
    }
    const timeout = options.timeout ?? this.api.waitTimeout;
    const request: RequestOptions = { query: { timeout }, serverTimeout: timeout };
    if (options.signal) request.signal = options.signal;
    return this.#poll(url, request);
  }

  /**
   * Long-polls `<operation>/wait` until the operation leaves the running
   * states (`status_code` < 200), within one overall deadline. Resolves with
   * the final `/wait` result; a failed or cancelled operation rejects with
   * `APIException` (as `wait()` does), a 404 with `OperationGoneError`.
   */
  async waitUntilDone(options: WaitUntilDoneOptions = {}): Promise<APIResult<Operation>> {
    const url = this.#operationUrl();
    const { signal, onProgress } = options;
    const limit = options.timeout === undefined || options.timeout < 0 ? undefined : options.timeout;
    const interval = Math.max(1, Math.ceil(options.progressInterval ?? 1));
    const started = performance.now();
    let seen = JSON.stringify(this.latestOperation?.metadata ?? null);
    for (;;) {
      const remaining = limit === undefined ? undefined : limit * 1000 - (performance.now() - started);
      if (remaining !== undefined && remaining <= 0)
        throw new OperationTimeoutError(url, limit as number, this.latestOperation);
      // One long poll: the sampling interval with onProgress, else waitTimeout (-1: no limit), never past the deadline.
      let seconds = onProgress ? interval : this.api.waitTimeout;
      if (remaining !== undefined) {
        const left = Math.ceil(remaining / 1000);
        seconds = seconds < 0 ? left : Math.min(seconds, left);
      }
      const poll: RequestOptions = { query: { timeout: seconds }, serverTimeout: seconds };
      if (signal) poll.signal = signal;
      // The poll's own deadline: an abort or the deadline rejects it and leaves no timer.
      if (remaining !== undefined) poll.timeout = remaining;
      let answer: APIResult<Operation>;
      try {
        answer = await this.#poll(url, poll);
      } catch (error) {
        throw this.#waitFailure(error, url, limit, remaining);
      }
      this.#latest = answer.metadata;
      const now = JSON.stringify(answer.metadata.metadata ?? null);
      if (onProgress && now !== seen) onProgress(answer.metadata, answer);
      seen = now;
      if (answer.metadata.status_code >= 200) return answer;
    }
  }

  /**
   * Cancels the operation (`DELETE`) when its latest known state says `may_cancel`; rejects without sending
   * otherwise.
   */
  async cancel(options: CancelOptions = {}): Promise<APIResult> {
    const url = this.#operationUrl();
    const request = options.signal ? { signal: options.signal } : {};
    if (options.refresh) this.#latest = (await this.api.request<Operation>('GET', url, request)).metadata;
    const state = this.latestOperation;
    if (!state?.may_cancel) throw new OperationNotCancellableError(url, state);
    return this.api.request('DELETE', url, request);
  }

  /**
   * One long poll of `<operation>/wait`. LXD answers a poll whose timeout ran out with the operation
   * still running; Incus 6.0 with an error envelope behind HTTP 200 ("context deadline exceeded"),
   * and then the operation itself, as it is now, is the answer.
   */
  async #poll(url: string, request: RequestOptions): Promise<APIResult<Operation>> {
    try {
      return await this.api.request<Operation>('GET', operationPath(url, '/wait'), request);
    } catch (error) {
      if (!isWaitTimeout(error)) throw error;
      const now: RequestOptions = {};
      if (request.signal) now.signal = request.signal;
      if (request.timeout !== undefined) now.timeout = request.timeout;
      return this.api.request<Operation>('GET', url, now);
    }
  }

  /** What a failed poll of `waitUntilDone()` rejects with; a failed operation's state is kept. */
  #waitFailure(error: unknown, url: string, limit: number | undefined, remaining: number | undefined): unknown {
    if (error instanceof APIConnectionError && error.code === 'ERR_LXD_TIMEOUT' && remaining !== undefined) {
      return new OperationTimeoutError(url, limit as number, this.latestOperation);
    }
    if (error instanceof APINotFoundException) {
      const state = this.latestOperation;
      const before = state ? `; last seen ${state.status} (${state.status_code})` : '';
      return new OperationGoneError(
        `operation ${url} is no longer known to the server (404 on /wait): ` +
          `it finished more than ~5 s ago and was cleaned up, or never existed here${before}`,
        error.result,
        { cause: error },
      );
    }
    if (error instanceof APIException && isOperation(error.result.metadata)) this.#latest = error.result.metadata;
    return error;
  }

  /**
   * The URL of the operation this result started (or, for `GET /1.0/operations/<id>`, describes);
   * throws when there is none.
   */
  #operationUrl(): string {
    if (this.operation !== undefined) return this.operation;
    const op = isOperation(this.metadata) ? this.metadata : undefined;
    if (op && this.request.url.includes('/operations/')) return `/${this.api.defaultVersion}/operations/${op.id}`;
    const what = this.data ? `a ${this.data.type} response` : 'a non-JSON response';
    throw new Error(
      `${this.request.method} ${redactUrl(this.request.url)} returned ${what} with no operation to wait for`,
    );
  }
}

/** Incus's answer to a `/wait` whose timeout ran out: HTTP 200, an error envelope, Go's context error. */
function isWaitTimeout(error: unknown): boolean {
  if (!(error instanceof APIException) || error.status !== 200) return false;
  const data = error.result.data as { type?: unknown; error?: unknown } | undefined;
  return data?.type === 'error' && typeof data.error === 'string' && data.error.endsWith('deadline exceeded');
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function isOperation(value: unknown): value is Operation {
  if (typeof value !== 'object' || value === null) return false;
  return typeof (value as Operation).id === 'string' && typeof (value as Operation).status_code === 'number';
}
