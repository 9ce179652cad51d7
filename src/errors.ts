// Every error the library throws, under one base class. `code` is stable, for matching without
// `instanceof`; `cause` is forwarded; `request` names the request the error is about.
import { redactUrl } from './redact.ts';
import type { APIResult } from './result.ts';
import type { Operation } from './types.ts';

/** The request an error is about: method and URL, secrets redacted. */
export interface ErrorRequest {
  method: string;
  url: string;
}

/** What every error of the library extends. */
export class LXDError extends Error {
  override name = 'LXDError';
  /** Stable identifier, for matching without `instanceof`. */
  readonly code: string;
  /** The request the error is about, when there is one. */
  readonly request: ErrorRequest | undefined;

  constructor(message: string, code: string, request?: ErrorRequest, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.request = request && { method: request.method, url: redactUrl(request.url) };
  }
}

/**
 * The server answered, and the answer is a failure: an HTTP status >= 400, a
 * nested `status_code` >= 400 (a failed operation), or a body that is not an
 * LXD response at all (invalid JSON, a proxy's HTML page).
 *
 * The message is `METHOD URL error`, as in Python's lxdapi, where error is
 * the server's own `error` when it is non-empty, else the failing metadata's
 * `err`, else the response itself (JSON, or the start of a non-JSON body).
 */
export class APIException extends LXDError {
  override name = 'APIException';
  /** The transaction that failed: request, response, envelope. */
  readonly result: APIResult;
  /** The HTTP status of the response. */
  readonly status: number;

  constructor(message: string, result: APIResult, options?: ErrorOptions, code = 'ERR_LXD_API') {
    // A result built by hand may lack its request.
    const request = result.request && { method: result.request.method, url: result.request.url };
    super(message, code, request, options);
    this.result = result;
    this.status = result.status;
  }
}

/** The server answered 404: the object does not exist, or no longer does. */
export class APINotFoundException extends APIException {
  override name = 'APINotFoundException';

  constructor(message: string, result: APIResult, options?: ErrorOptions, code = 'ERR_LXD_NOT_FOUND') {
    super(message, result, options, code);
  }
}

/**
 * No usable answer came back: the socket is missing or forbidden, the
 * connection was refused or reset, TLS verification failed, or a timeout
 * expired. `cause` holds the underlying error; `hint` says what to check.
 */
export class APIConnectionError extends LXDError {
  override name = 'APIConnectionError';
  /** The endpoint that could not be reached, as in `api.endpoint`. */
  readonly endpoint: string;
  /** What a person can check to fix it. */
  readonly hint: string;

  /** `code` is the transport's: `ENOENT`, `ECONNREFUSED`, `EACCES`, an undici `UND_ERR_*`, an OpenSSL code. */
  constructor(
    message: string,
    fields: { endpoint: string; code: string; hint: string; request?: ErrorRequest },
    options?: ErrorOptions,
  ) {
    super(fields.hint ? `${message} (${fields.hint})` : message, fields.code, fields.request, options);
    this.endpoint = fields.endpoint;
    this.hint = fields.hint;
  }
}

/** The overall deadline of `waitUntilDone()` passed with the operation still running. */
export class OperationTimeoutError extends LXDError {
  override name = 'OperationTimeoutError';
  override readonly code = 'ERR_LXD_OPERATION_TIMEOUT' as const;
  /** The operation's URL. */
  readonly operation: string;
  /** Seconds waited. */
  readonly waited: number;
  /** The latest state seen, if any. */
  readonly last: Operation | undefined;

  constructor(operation: string, waited: number, last: Operation | undefined) {
    const state = last ? ` (${last.description || last.class}, still ${last.status} ${last.status_code})` : '';
    super(`operation ${operation}${state} did not finish within ${waited} s`, 'ERR_LXD_OPERATION_TIMEOUT', {
      method: 'GET',
      url: `${operation}/wait`,
    });
    this.operation = operation;
    this.waited = waited;
    this.last = last;
  }
}

/**
 * The server no longer knows the operation: it answers 404 on `/wait`. LXD and
 * Incus forget an operation about 5 seconds after it finished, so this usually means it
 * finished (successfully or not) before the wait began; its outcome has to
 * be read from the objects it changed.
 */
export class OperationGoneError extends APINotFoundException {
  override name = 'OperationGoneError';

  constructor(message: string, result: APIResult, options?: ErrorOptions) {
    super(message, result, options, 'ERR_LXD_OPERATION_GONE');
  }
}

/** `may_cancel` is false in the latest known state: nothing was sent. */
export class OperationNotCancellableError extends LXDError {
  override name = 'OperationNotCancellableError';
  override readonly code = 'ERR_LXD_NOT_CANCELLABLE' as const;
  readonly operation: string;

  constructor(operation: string, state: Operation | undefined) {
    super(
      state
        ? `operation ${operation} (${state.description || state.class}, ${state.status}) cannot be cancelled: ` +
            'the server reports may_cancel false'
        : `operation ${operation} cannot be cancelled: its state is unknown (pass refresh: true to fetch it)`,
      'ERR_LXD_NOT_CANCELLABLE',
      { method: 'DELETE', url: operation },
    );
    this.operation = operation;
  }
}

/**
 * The command line's configuration cannot be used for what was asked: an unknown remote, one that is not an LXD
 * API, an authentication lxdapi does not speak, a certificate that is missing or unreadable. Thrown before any
 * connection is made. Messages name files, never their contents.
 */
export class RemoteConfigError extends LXDError {
  override name = 'RemoteConfigError';
  /**
   * `ERR_LXD_REMOTE_CONFIG` (config.yml unreadable or invalid), `ERR_LXD_REMOTE_UNKNOWN`, `ERR_LXD_REMOTE_NOT_API`
   * (an image server), `ERR_LXD_REMOTE_AUTH` (OIDC), `ERR_LXD_REMOTE_CERT_MISSING`, `ERR_LXD_REMOTE_CERT_UNREADABLE`
   */
  declare readonly code: string;
  /** The file the problem is about, when there is one. */
  readonly file: string | undefined;

  constructor(message: string, code: string, options: ErrorOptions & { file?: string } = {}) {
    super(message, code, undefined, options.cause === undefined ? {} : { cause: options.cause });
    this.file = options.file;
  }
}

/** The server lacks an API extension that a feature of the library relies on: nothing was sent. */
export class MissingExtensionError extends LXDError {
  override name = 'MissingExtensionError';
  /** The API extension the feature needs. */
  readonly extension: string;

  constructor(
    extension: string,
    feature: string,
    server: { kind: string | undefined; version: string | undefined },
    endpoint: string,
  ) {
    const which = server.kind ? `${server.kind} ${server.version ?? ''}`.trim() : 'the server';
    super(
      `${feature} needs the API extension ${extension}, which ${which} at ${endpoint} does not have`,
      'ERR_LXD_MISSING_EXTENSION',
    );
    this.extension = extension;
  }
}

/**
 * The `APIException` (`APINotFoundException` on 404) for a failed result: the one place they are
 * built. The message is `METHOD URL text`, the text cut at 2000 characters.
 */
export function apiException(result: APIResult, text: string, cause?: unknown): APIException {
  const cut = text.length > 2000 ? `${text.slice(0, 2000)}...` : text;
  const message = `${result.request.method} ${redactUrl(result.request.url)} ${cut}`;
  const options = cause === undefined ? undefined : { cause };
  return result.status === 404
    ? new APINotFoundException(message, result, options)
    : new APIException(message, result, options);
}
