import type { Readable } from 'node:stream';
import type { API, RequestOptions } from './api.ts';
import { describeBytes, dumpJson, redactUrl } from './debug.ts';
import { APIException, APINotFoundException } from './errors.ts';
import { type CancelOptions, cancelOperation, operationPath, operationUrl, type WaitUntilDoneOptions, waitUntilDone } from './operations.ts';
import type { Envelope, Operation } from './types.ts';

/** What was sent, as `APIResult.request` keeps it (headers redacted). */
export interface RequestRecord {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The `json` option's value; raw bodies are not kept. */
  body?: unknown;
  /** The raw body as it was passed, for its size in summaries. */
  raw?: unknown;
}

/** What came back, before parsing. */
export interface ResponseRecord {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** Options of `APIResult.wait()`. */
export interface WaitOptions {
  /**
   * Seconds the server may hold the request before answering with the
   * operation still running (HTTP 200, `status_code` 103). `-1` waits
   * without limit.
   * @default the API's `waitTimeout` (30)
   */
  timeout?: number;
  /** Aborts the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A promise of a result that can also wait for the operation it starts. */
export type ResultPromise<T> = Promise<APIResult<T>> & {
  /** `await api.post('images', { json }).wait()`: the request, then `result.wait()`. */
  wait(options?: WaitOptions): Promise<APIResult<Operation>>;
};

export function resultPromise<T>(promise: Promise<APIResult<T>>): ResultPromise<T> {
  const result = promise as ResultPromise<T>;
  // One method shared by every promise, not a closure over each: a closure stored on the promise
  // it captures kept every response reachable through V8's young-generation GCs, so each one was
  // copied and promoted (bench/README.md, third pass).
  result.wait = waitOnResult;
  return result;
}

function waitOnResult(this: unknown, options?: WaitOptions): Promise<APIResult<Operation>> {
  if (!(this instanceof Promise)) throw new TypeError('wait() is a method of the request promise: call it as api.post(...).wait()');
  return (this as Promise<APIResult>).then((result) => result.wait(options));
}

export interface ResultFields {
  /** The endpoint (the cluster member) that answered. */
  endpoint?: string;
  request: RequestRecord;
  response: ResponseRecord;
  data?: Envelope | undefined;
  body?: Uint8Array | undefined;
  stream?: Readable | undefined;
  /** Why the response is not a usable LXD answer, when it is not. */
  problem?: { message: string; cause?: unknown } | undefined;
}

/** One HTTP transaction with LXD: the request, the response and its envelope. */
export class APIResult<T = unknown> {
  /** The API that made the request. */
  readonly api: API;
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

  constructor(api: API, fields: ResultFields) {
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
    this.operation = typeof operation === 'string' && operation !== '' ? operation : header(fields.response.headers.location);
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
    if (this.status === 404) throw new APINotFoundException(this.#message(this.#errorText()), this);
    if (this.status >= 400) throw new APIException(this.#message(this.#errorText()), this);
    if (this.#problem) throw new APIException(this.#message(this.#problem.message), this, { cause: this.#problem.cause });
    if (this.data !== undefined) this.validateMetadata(this.data);
  }

  /**
   * Follows the `metadata` chain (envelope, operation, the operation's own
   * metadata, ...) and throws `APIException` at the first object whose
   * `status_code` is >= 400. A loop, not recursion: depth is no limit.
   */
  validateMetadata(data: unknown): void {
    for (let current = data; isRecord(current) && isRecord(current.metadata); current = current.metadata) {
      const metadata = current.metadata;
      if (typeof metadata.status_code === 'number' && metadata.status_code >= 400) {
        const err = typeof metadata.err === 'string' && metadata.err !== '' ? metadata.err : dumpJson(this.data, 0);
        throw new APIException(this.#message(err), this);
      }
    }
  }

  /**
   * Long-polls `<operation>/wait?timeout=<timeout>` once and returns that
   * result, validated: a failed operation rejects. The operation is the one
   * this result started, or the one a `GET /1.0/operations/<id>` describes. When the timeout runs
   * out first, LXD answers 200 with the operation still running (103).
   */
  wait(options: WaitOptions = {}): Promise<APIResult<Operation>> {
    let url: string;
    try {
      url = operationUrl(this);
    } catch (error) {
      return Promise.reject(error);
    }
    const timeout = options.timeout ?? this.api.waitTimeout;
    const request: RequestOptions<never, { timeout: number }> = { query: { timeout }, serverTimeout: timeout };
    if (options.signal) request.signal = options.signal;
    return this.api.get<Operation>(operationPath(url, '/wait'), request);
  }

  /** Long-polls `/wait` until the operation is done, within one overall deadline (see `waitUntilDone()` in operations.ts). */
  waitUntilDone(options?: WaitUntilDoneOptions): Promise<APIResult<Operation>> {
    return waitUntilDone(this, options);
  }

  /** Cancels the operation (`DELETE`) when its latest known state says `may_cancel`; rejects without sending otherwise. */
  cancel(options?: CancelOptions): Promise<APIResult> {
    return cancelOperation(this, options);
  }

  #message(error: string): string {
    const text = error.length > 2000 ? `${error.slice(0, 2000)}...` : error;
    return `${this.request.method} ${redactUrl(this.request.url)} ${text}`;
  }

  #errorText(): string {
    const data: unknown = this.data;
    if (isRecord(data)) {
      if (typeof data.error === 'string' && data.error !== '') return data.error;
      if (isRecord(data.metadata) && typeof data.metadata.err === 'string' && data.metadata.err !== '') return data.metadata.err;
      return dumpJson(data, 0);
    }
    if (this.body && this.body.byteLength > 0) return bodyStart(this.body);
    return this.#problem?.message ?? `HTTP ${this.status} with an empty body`;
  }
}

/** The first 200 characters of a body that is not an LXD answer, on one line. */
export function bodyStart(body: Uint8Array | string): string {
  const text = typeof body === 'string' ? body.slice(0, 800) : Buffer.from(body.buffer, body.byteOffset, Math.min(body.byteLength, 800)).toString('utf8');
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
