// The options a user passes, each documented once, and the settings `API.factory()` resolves from them.
import type { Readable } from 'node:stream';
import type { Dispatcher, WebSocket } from 'undici';
import type { Query } from './routes.ts';

export const VERSION = '0.1.0';

/** Options of `API.factory()` (and, for the non-TLS ones, `new API()`). */
export interface APIOptions {
  /**
   * The API version that relative urls are resolved under: `'instances'`
   * becomes `/1.0/instances`.
   * @default '1.0'
   */
  defaultVersion?: string;
  /** Sent as `?project=` on every request that does not set its own. */
  project?: string;
  /** Sent as `?target=` on every request that does not set its own: the cluster member that places or runs the work. */
  target?: string;
  /**
   * Print every transaction to stderr, as `DEBUG=lxd` does.
   * @default false (true when the `debug` package is enabled for `lxd`)
   */
  debug?: boolean;
  /**
   * Seconds that `wait()` lets the server hold a long poll (lxdapi's `default_timeout`).
   * @default 30
   */
  waitTimeout?: number;
  /**
   * A client-side deadline in milliseconds for each request that does not
   * set its own `timeout`. Without it, undici's defaults apply (300 s for
   * the response headers, 300 s between body chunks).
   */
  timeout?: number;
  /**
   * The largest response body, in bytes, the client buffers. A response
   * over it rejects with `APIException`; `stream: true` downloads are not
   * capped.
   * @default Infinity
   */
  maxResponseBytes?: number;
  /**
   * An undici dispatcher to send requests through instead of the one `factory()` builds: the seam for tests and
   * proxies.
   */
  dispatcher?: Dispatcher;
  /** @default `lxdapi/<version>` */
  userAgent?: string;
  /** Client certificate (PEM) for a TLS remote. @default `~/.config/lxc/client.crt`, else the snap's, else incus's */
  cert?: string | Buffer;
  /** Client key (PEM) for a TLS remote. @default `~/.config/lxc/client.key`, else the snap's, else incus's */
  key?: string | Buffer;
  /**
   * The server's own certificate (PEM), pinned the way `lxc` does it: the
   * connection is accepted if and only if the server presents exactly this
   * certificate, whatever host name the endpoint uses.
   */
  serverCert?: string | Buffer;
  /** CA certificates (PEM) for a server whose certificate a PKI signed; host names are checked. */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** What the API runs with: every default of `APIOptions` resolved. */
export interface Settings {
  readonly defaultVersion: string;
  readonly project: string | undefined;
  readonly target: string | undefined;
  readonly waitTimeout: number;
  readonly timeout: number | undefined;
  readonly maxResponseBytes: number;
  readonly userAgent: string;
}

export function resolveSettings(options: APIOptions): Settings {
  return {
    defaultVersion: options.defaultVersion ?? '1.0',
    project: options.project,
    target: options.target,
    waitTimeout: options.waitTimeout ?? 30,
    timeout: options.timeout,
    maxResponseBytes: options.maxResponseBytes ?? Number.POSITIVE_INFINITY,
    userAgent: options.userAgent ?? `lxdapi/${VERSION}`,
  };
}

/**
 * Options of one request. `B` is the JSON body type and `Q` the query type
 * that the verbs derive from the url (see `RouteBody`, `QueryFor`).
 */
export interface RequestOptions<B = unknown, Q extends Query = Query> {
  /** A body serialised as JSON, sent as `application/json`. */
  json?: B;
  /**
   * A raw body, streamed: image upload, file push. Sent as `application/octet-stream` unless `headers` say
   * otherwise.
   */
  body?: string | Uint8Array | Readable | AsyncIterable<Uint8Array>;
  headers?: Record<string, string>;
  /**
   * Query parameters (`recursion`, `filter`, `project`, `target`, ...), encoded and merged onto any query in the
   * url.
   */
  query?: Q;
  /** Sent as `If-Match`: the `etag` of the result the change is based on. */
  ifMatch?: string;
  /** Aborts the request; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * A client-side deadline in milliseconds; past it the request rejects with `APIConnectionError` (code
   * `ERR_LXD_TIMEOUT`).
   */
  timeout?: number;
  /**
   * Seconds the server is asked to hold the request (a long poll): undici's
   * header and body timeouts are raised past it, and `-1` lifts them.
   */
  serverTimeout?: number;
  /** Leave a non-JSON response body unread, as `result.stream`, for large downloads. */
  stream?: boolean;
  /** The cluster member to place or run this request on, sent as `?target=`. */
  target?: string;
}

/** Options of `api.websocket()`. */
export interface WebSocketOptions {
  /** Aborts the handshake; the promise rejects with the signal's reason. Once open, the socket is closed. */
  signal?: AbortSignal;
  /** Milliseconds the handshake may take. @default the API's `timeout` option, else none */
  timeout?: number;
  /**
   * Subprotocols to ask for; the server must pick one of them, else the handshake fails
   * (`ERR_LXD_WEBSOCKET_PROTOCOL`). LXD's own websockets use none.
   */
  protocols?: string | string[];
  /** Extra request headers of the handshake. */
  headers?: Record<string, string>;
  /**
   * Called with the socket as soon as it is created, before it opens: listeners
   * added here see every message, even one that arrives with the handshake.
   */
  attach?: (socket: WebSocket) => void;
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

/** Options of `result.cancel()`. */
export interface CancelOptions {
  /** Fetch the operation's current state first, instead of trusting the latest one known. @default false */
  refresh?: boolean;
  signal?: AbortSignal;
}
