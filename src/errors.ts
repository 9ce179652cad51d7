import type { APIResult } from './result.ts';

/**
 * The server answered, and the answer is a failure: an HTTP status >= 400, a
 * nested `status_code` >= 400 (a failed operation), or a body that is not an
 * LXD response at all (invalid JSON, a proxy's HTML page).
 *
 * The message is `METHOD URL error`, as in Python's lxdapi, where error is
 * the server's own `error` when it is non-empty, else the failing metadata's
 * `err`, else the response itself (JSON, or the start of a non-JSON body).
 */
export class APIException extends Error {
  override name = 'APIException';
  /** Stable identifier, for matching without `instanceof`. */
  readonly code: string = 'ERR_LXD_API';
  /** The transaction that failed: request, response, envelope. */
  readonly result: APIResult;
  /** The HTTP status of the response. */
  readonly status: number;

  constructor(message: string, result: APIResult, options?: ErrorOptions) {
    super(message, options);
    this.result = result;
    this.status = result.status;
  }
}

/** The server answered 404: the object does not exist, or no longer does. */
export class APINotFoundException extends APIException {
  override name = 'APINotFoundException';
  override readonly code: string = 'ERR_LXD_NOT_FOUND';
}

/**
 * No usable answer came back: the socket is missing or forbidden, the
 * connection was refused or reset, TLS verification failed, or a timeout
 * expired. `cause` holds the underlying error; `hint` says what to check.
 */
export class APIConnectionError extends Error {
  override name = 'APIConnectionError';
  /** The endpoint that could not be reached, as in `api.endpoint`. */
  readonly endpoint: string;
  /** The transport's code: `ENOENT`, `ECONNREFUSED`, `EACCES`, `ETIMEDOUT`, an undici `UND_ERR_*` or an OpenSSL code. */
  readonly code: string;
  /** What a person can check to fix it. */
  readonly hint: string;

  constructor(message: string, fields: { endpoint: string; code: string; hint: string }, options?: ErrorOptions) {
    super(fields.hint ? `${message} (${fields.hint})` : message, options);
    this.endpoint = fields.endpoint;
    this.code = fields.code;
    this.hint = fields.hint;
  }
}
