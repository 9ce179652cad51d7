import type { Operation, Server } from './generated/lxd-types.ts';

/**
 * The LXD REST API's status codes, as documented in LXD's `doc/rest-api.md`.
 * Operations and instances carry them as `status_code`; 100 to 199 are
 * resource states, 200 to 399 positive results, 400 to 599 failures.
 */
export const StatusCode = {
  OperationCreated: 100,
  Started: 101,
  Stopped: 102,
  Running: 103,
  Cancelling: 104,
  Pending: 105,
  Starting: 106,
  Stopping: 107,
  Aborting: 108,
  Freezing: 109,
  Frozen: 110,
  Thawed: 111,
  Error: 112,
  Ready: 113,
  Success: 200,
  Failure: 400,
  Cancelled: 401,
} as const;

export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

/** What the sync and async envelopes share. A real LXD sends `error: ""` and `error_code: 0` on success. */
interface SuccessEnvelope<T> {
  status: string;
  status_code: number;
  /** The operation's URL in an async answer, e.g. `/1.0/operations/<uuid>`; empty in a sync one. */
  operation: string;
  error_code: number;
  error: string;
  metadata: T;
}

/** The envelope of a synchronous answer. */
export interface SyncResponse<T = unknown> extends SuccessEnvelope<T> {
  type: 'sync';
}

/**
 * The envelope of an answer that started a background operation (HTTP 202, with `Location`): `metadata` is the
 * operation.
 */
export interface AsyncResponse<T = Operation> extends SuccessEnvelope<T> {
  type: 'async';
}

/** The envelope of a failure. */
export interface ErrorResponse {
  type: 'error';
  error: string;
  error_code: number;
  metadata: unknown;
}

export type Envelope<T = unknown> = SyncResponse<T> | AsyncResponse<T> | ErrorResponse;

/**
 * The resource types (`Server`, `Instance`, `InstanceState`, `Image`,
 * `Operation`, request bodies such as `InstancesPost`, ...) are generated
 * from LXD 5.0's own API description: see `./generated/lxd-types.ts`.
 */
export type * from './generated/lxd-types.ts';

/** What `api.server()` knows of the server. */
export interface ServerInfo {
  /** `lxd` or `incus` (`environment.server`); undefined before the client is trusted (no `environment`). */
  readonly kind: 'lxd' | 'incus' | undefined;
  /** The server's version (`environment.server_version`), e.g. `5.0.2` or `6.0.4`; undefined when untrusted. */
  readonly version: string | undefined;
  /** `api_version`, e.g. `1.0`. */
  readonly apiVersion: string;
  /** Whether the server trusts this client (`auth: trusted`). */
  readonly trusted: boolean;
  /** `api_extensions`. */
  readonly extensions: readonly string[];
  /** The whole server document. */
  readonly document: Server;
  /** Whether the server has the API extension `name`. */
  hasExtension(name: string): boolean;
}
