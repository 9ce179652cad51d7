import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { createLogger, describeBytes, dumpJson, type Logger, redactHeaders, redactUrl } from './debug.ts';
import { APIConnectionError } from './errors.ts';
import { linkAbort } from './abort.ts';
import { APIResult, type RequestRecord, type ResultFields, type ResultPromise, resultPromise } from './result.ts';
import { parse, readBody, type TOO_LARGE } from './response.ts';
import { checkSocket, connectionError, defaultClientCertificate, errorCode, findSocket, fingerprint, NOT_SENT, tlsAgent, unixAgent, unixEndpoint } from './transport.ts';
import type { Method, NoQuery, Query, QueryFor, RouteBody, RouteMetadata } from './routes.ts';
import { type EventOf, type EventStream, type EventsOptions, type EventType, openEvents } from './events.ts';
import { type ExecOptions, type ExecSession, exec } from './exec.ts';
import { openWebSocket, type WebSocketOptions } from './websocket.ts';
import { connectRemote, type RemoteOptions } from './remote.ts';
import { type JoinOptions, type Joined, joinServer } from './join.ts';

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
  /** An undici dispatcher to send requests through instead of the one `factory()` builds: the seam for tests and proxies. */
  dispatcher?: Dispatcher;
  /** @default `lxdapi/<version>` */
  userAgent?: string;
  /** Client certificate (PEM) for a TLS remote. @default `~/.config/lxc/client.crt`, else the snap's, when present */
  cert?: string | Buffer;
  /** Client key (PEM) for a TLS remote. @default `~/.config/lxc/client.key`, else the snap's, when present */
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

/** The response metadata type of a verb: an explicit type argument wins, else the route's documented type. */
export type Metadata<T, M extends Method, U extends string, Q> = [T] extends [never] ? RouteMetadata<M, U, Q> : T;

/**
 * Options of one request. `B` is the JSON body type and `Q` the query type
 * that the verbs derive from the url (see `RouteBody`, `QueryFor`).
 */
export interface RequestOptions<B = unknown, Q extends Query = Query> {
  /** A body serialised as JSON, sent as `application/json`. */
  json?: B;
  /** A raw body, streamed: image upload, file push. Sent as `application/octet-stream` unless `headers` say otherwise. */
  body?: string | Uint8Array | Readable | AsyncIterable<Uint8Array>;
  headers?: Record<string, string>;
  /** Query parameters (`recursion`, `filter`, `project`, `target`, ...), encoded and merged onto any query in the url. */
  query?: Q;
  /** Sent as `If-Match`: the `etag` of the result the change is based on. */
  ifMatch?: string;
  /** Aborts the request; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** A client-side deadline in milliseconds; past it the request rejects with `APIConnectionError` (code `ERR_LXD_TIMEOUT`). */
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

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
// How much longer than a long poll the client waits for LXD's answer.
const LONG_POLL_MARGIN_MS = 30_000;

/** A client of one LXD server (or of the members of one cluster), over its unix socket or HTTPS. */
export class API {
  readonly defaultVersion: string;
  readonly dispatcher: Dispatcher;
  readonly project: string | undefined;
  readonly target: string | undefined;
  readonly waitTimeout: number;
  readonly timeout: number | undefined;
  readonly maxResponseBytes: number;
  readonly userAgent: string;
  /** The `lxd` debug logger: every transaction goes through it when enabled. */
  readonly log: Logger;
  /** The socket path, for a unix endpoint. */
  readonly socketPath: string | undefined;
  #members: string[];
  #current = 0;
  #owned = false;
  #pinned: string | undefined;
  #clientCert = false;

  /**
   * Connects to LXD: no endpoint finds the local socket, a path names one,
   * `https://host:port` is a remote reached with the client certificate.
   * @example const api = API.factory();
   * @example const api = API.factory('https://lxd.example:8443', { serverCert, cert, key });
   * @example const api = API.factory(['https://10.0.0.1:8443', 'https://10.0.0.2:8443'], { serverCert, cert, key });
   */
  static factory(endpoint?: string | string[], options: APIOptions = {}): API {
    if (Array.isArray(endpoint)) return API.#cluster(endpoint, options);
    const given = options.dispatcher;
    if (endpoint === undefined || endpoint.startsWith('/')) {
      let socketPath: string;
      try {
        socketPath = endpoint ?? findSocket();
      } catch (error) {
        throw new APIConnectionError((error as Error).message, { endpoint: 'unix socket', code: 'ENOENT', hint: '' });
      }
      checkSocket(socketPath);
      const api = new API(given ?? unixAgent(socketPath), unixEndpoint(socketPath), options);
      api.#owned = given === undefined;
      return api;
    }
    const url = parseEndpoint(endpoint);
    if (given) return new API(given, url, options);
    if (url.startsWith('http:')) {
      throw new TypeError(`${endpoint}: LXD serves its API over HTTPS only; use https://, or pass a dispatcher for a plain-HTTP proxy`);
    }
    const fallback = options.cert === undefined && options.key === undefined ? defaultClientCertificate() : undefined;
    const api = new API(
      tlsAgent({
        cert: options.cert ?? fallback?.cert,
        key: options.key ?? fallback?.key,
        serverCert: options.serverCert,
        ca: options.ca,
        clientFolder: fallback?.folder,
      }),
      url,
      options,
    );
    api.#owned = true;
    api.#clientCert = (options.cert ?? fallback?.cert) !== undefined;
    if (options.serverCert !== undefined) api.#pinned = fingerprint(options.serverCert);
    return api;
  }

  /** A client of a remote of the `lxc` or `incus` configuration (default: its default remote); see RemoteOptions. */
  static remote(name?: string, options: RemoteOptions & APIOptions = {}): API {
    return connectRemote(API.factory, name, options);
  }

  /** Gets the client certificate trusted with a trust token; resolves with the trusted API (see JoinOptions). */
  static join(
    token: string,
    options: JoinOptions & Omit<APIOptions, 'serverCert' | 'ca' | 'dispatcher'> = {},
  ): Promise<Joined<API>> {
    return joinServer(API.factory, token, options);
  }

  /**
   * Several members of one cluster: they share one certificate (so one pin
   * serves all) and forward requests to each other. A request that cannot
   * connect to a member moves on to the next; one already sent is never
   * sent again. The member that answers is tried first from then on.
   */
  static #cluster(endpoints: string[], options: APIOptions): API {
    if (endpoints.length === 0) throw new TypeError('API.factory() needs at least one cluster member');
    const urls = endpoints.map((endpoint) => {
      if (typeof endpoint !== 'string' || endpoint.startsWith('/')) throw new TypeError(`cluster members are https:// URLs, got ${String(endpoint)}`);
      return parseEndpoint(endpoint);
    });
    const first = API.factory(urls[0], options);
    first.#members = urls;
    return first;
  }

  constructor(dispatcher: Dispatcher, endpoint: string, options: APIOptions = {}) {
    this.dispatcher = dispatcher;
    this.#members = [endpoint.endsWith('/') ? endpoint.slice(0, -1) : endpoint];
    this.defaultVersion = options.defaultVersion ?? '1.0';
    this.project = options.project;
    this.target = options.target;
    this.waitTimeout = options.waitTimeout ?? 30;
    this.timeout = options.timeout;
    this.maxResponseBytes = options.maxResponseBytes ?? Number.POSITIVE_INFINITY;
    this.userAgent = options.userAgent ?? `lxdapi/${VERSION}`;
    this.log = createLogger(options.debug ?? false);
    this.socketPath = this.endpoint.startsWith('http+unix://')
      ? decodeURIComponent(this.endpoint.slice('http+unix://'.length).replace(/\+/g, ' '))
      : undefined;
  }

  /** `http+unix://<quoted socket path>` or `https://host:port`: the member requests go to first. */
  get endpoint(): string {
    return this.#members[this.#current] as string;
  }

  /** Every endpoint of the API: one, or the members of a cluster in the order given. */
  get members(): readonly string[] {
    return this.#members;
  }

  /** `'instances'` becomes `<endpoint>/1.0/instances`; a path starting with `/` is kept. */
  formatUrl(url: string): string {
    return this.endpoint + this.#path(url);
  }

  /** Releases the connections of the dispatcher `factory()` built. An injected dispatcher is left to its owner. */
  async close(): Promise<void> {
    if (this.#owned) await this.dispatcher.close();
  }

  /** Subscribes to `/1.0/events`; resolves once the subscription is open (see `EventStream`). */
  events<T extends EventType = EventType>(options?: EventsOptions<T>): Promise<EventStream<EventOf<T>>> {
    return openEvents(this, options);
  }

  /** Opens a websocket (an operation's `/1.0/operations/<id>/websocket?secret=...`) on this API's transport; resolves once open. */
  websocket(url: string, options?: WebSocketOptions): ReturnType<typeof openWebSocket> {
    return openWebSocket(this, url, options);
  }

  /** Runs a command with `wait-for-websocket` and connects its stdin, stdout, stderr and control websockets. */
  exec(instance: string, command: string[], options?: ExecOptions): Promise<ExecSession> {
    return exec(this, instance, command, options);
  }

  get<T = never, U extends string = string, const Q extends QueryFor<'GET', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'GET', U>, Q>,
  ): ResultPromise<Metadata<T, 'GET', U, Q>> {
    return this.request('GET', url, options as RequestOptions);
  }

  post<T = never, U extends string = string, const Q extends QueryFor<'POST', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'POST', U>, Q>,
  ): ResultPromise<Metadata<T, 'POST', U, Q>> {
    return this.request('POST', url, options as RequestOptions);
  }

  put<T = never, U extends string = string, const Q extends QueryFor<'PUT', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'PUT', U>, Q>,
  ): ResultPromise<Metadata<T, 'PUT', U, Q>> {
    return this.request('PUT', url, options as RequestOptions);
  }

  patch<T = never, U extends string = string, const Q extends QueryFor<'PATCH', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'PATCH', U>, Q>,
  ): ResultPromise<Metadata<T, 'PATCH', U, Q>> {
    return this.request('PATCH', url, options as RequestOptions);
  }

  delete<T = never, U extends string = string, const Q extends QueryFor<'DELETE', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'DELETE', U>, Q>,
  ): ResultPromise<Metadata<T, 'DELETE', U, Q>> {
    return this.request('DELETE', url, options as RequestOptions);
  }

  /**
   * Sends one request and resolves with its validated result: a failure
   * rejects with `APIException` (the server said no), `APIConnectionError`
   * (no answer), a `TypeError` (bad arguments, before anything is sent) or
   * the abort signal's reason.
   */
  request<T = unknown>(method: string, url: string, options: RequestOptions = {}): ResultPromise<T> {
    return resultPromise(this.#send<T>(method, url, options));
  }

  async #send<T>(method: string, url: string, options: RequestOptions): Promise<APIResult<T>> {
    const verb = checkMethod(method);
    const path = this.#path(url, options.query, options.target);
    const { headers, payload } = this.#payload(options);
    if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch;
    const deadline = options.timeout ?? (options.serverTimeout === undefined ? this.timeout : undefined);
    const abort = linkAbort(options.signal, deadline);
    const longPoll = longPollTimeout(options.serverTimeout);

    let fields: ResultFields;
    try {
      if (options.signal?.aborted) throw options.signal.reason;
      let response: Dispatcher.ResponseData | undefined;
      let endpoint = this.endpoint;
      // Members in turn, from the one that answered last, while none can be connected to.
      for (let attempt = 0; response === undefined; attempt++) {
        const member = (this.#current + attempt) % this.#members.length;
        endpoint = this.#members[member] as string;
        if (this.log.enabled) {
          const body = options.json !== undefined ? `\n${dumpJson(options.json)}` : options.body !== undefined ? `\n${describeBytes(options.body)}` : '';
          this.log('%s %s%s', verb, redactUrl(endpoint + path), body);
        }
        try {
          response = await this.dispatcher.request({
            origin: this.socketPath ? 'http://lxd' : endpoint,
            path,
            method: verb as Dispatcher.HttpMethod,
            headers,
            // undici destroys the stream body of a request that could not connect: the next member needs it unread.
            body: payload instanceof Readable && attempt + 1 < this.#members.length ? readLater(payload) : (payload ?? null),
            signal: abort.signal,
            headersTimeout: longPoll,
            bodyTimeout: longPoll,
          });
          this.#current = member;
        } catch (error) {
          const retry = NOT_SENT.has(errorCode(error)) && attempt + 1 < this.#members.length && !abort.timedOut && !options.signal?.aborted;
          if (!retry) {
            if (payload instanceof Readable) payload.destroy();
            throw this.#failure({ verb, path, endpoint, answered: false, error, signal: options.signal, timedOut: abort.timedOut, deadline });
          }
          if (this.log.enabled) this.log('%s: %s, trying the next member', endpoint, (error as Error).message);
        }
      }
      const request: RequestRecord = { method: verb, url: endpoint + path, headers: redactHeaders(headers) };
      if (options.json !== undefined) request.body = options.json;
      if (options.body !== undefined) request.raw = options.body;
      const responseRecord = { status: response.statusCode, headers: response.headers };
      const contentType = String(response.headers['content-type'] ?? '');
      const json = contentType === 'application/json' || /\bjson\b/i.test(contentType);
      if (options.stream && !json && response.statusCode < 400) {
        abort.keepUntil(response.body);
        fields = { endpoint, request, response: responseRecord, stream: response.body };
      } else {
        let content: string | Uint8Array | typeof TOO_LARGE;
        try {
          content = await readBody(response.body, this.maxResponseBytes, json);
        } catch (error) {
          throw this.#failure({ verb, path, endpoint, answered: true, error, signal: options.signal, timedOut: abort.timedOut, deadline });
        }
        fields = parse(request, responseRecord, verb, contentType, content, this.maxResponseBytes);
        fields.endpoint = endpoint;
      }
    } finally {
      abort.done();
    }

    const result = new APIResult<T>(this, fields);
    if (this.log.enabled) this.log('%s\n%s', result.responseSummary(), '='.repeat(24));
    result.validate();
    return result;
  }

  /** The error to reject with when `endpoint` could not be used (or its answer not read). */
  #failure(what: { verb: string; path: string; endpoint: string; answered: boolean; error: unknown; signal: AbortSignal | undefined; timedOut: boolean; deadline: number | undefined }): unknown {
    if (what.signal?.aborted) return what.signal.reason;
    const cause = what.timedOut ? Object.assign(new Error(`timed out after ${what.deadline} ms`), { code: 'ERR_LXD_TIMEOUT' }) : what.error;
    return connectionError(cause, {
      method: what.verb,
      url: what.endpoint + what.path,
      endpoint: what.endpoint,
      socketPath: this.socketPath,
      pinned: this.#pinned,
      clientCert: this.#clientCert,
      answered: what.answered,
      tls: what.endpoint.startsWith('https:'),
    });
  }

  #path(url: string, query?: Query, target?: string): string {
    if (typeof url !== 'string') throw new TypeError(`url must be a string, got ${typeof url}`);
    let rest = url;
    if (!rest.startsWith('/') && /^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) {
      if (!rest.startsWith(`${this.endpoint}/`)) throw new TypeError(`${redactUrl(url)} is not on this API's endpoint ${this.endpoint}`);
      rest = rest.slice(this.endpoint.length);
    }
    const queryAt = rest.indexOf('?');
    let path = queryAt === -1 ? rest : rest.slice(0, queryAt);
    if (!path.startsWith('/')) path = path === '' ? `/${this.defaultVersion}` : `/${this.defaultVersion}/${path}`;
    if ((path.includes('/.') || path.includes('/%')) && DOT_SEGMENT.test(path)) throw new TypeError(`${redactUrl(url)}: '.' and '..' segments are not allowed in a url`);
    // Most requests: nothing to add, or only plain values (the wait's `timeout`), to a url without a query.
    const fast = queryAt === -1 && target === undefined && this.project === undefined && this.target === undefined ? plainQuery(query) : undefined;
    if (fast !== undefined) return fast === '' ? path : `${path}?${fast}`;
    const params = new URLSearchParams(queryAt === -1 ? '' : rest.slice(queryAt + 1));
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value === undefined) continue;
      if (!['string', 'number', 'boolean'].includes(typeof value)) {
        throw new TypeError(`query parameter ${name} must be a string, number or boolean, got ${value === null ? 'null' : typeof value}`);
      }
      params.set(name, String(value));
    }
    if (target !== undefined) params.set('target', target);
    if (this.project !== undefined && !params.has('project')) params.set('project', this.project);
    if (this.target !== undefined && !params.has('target')) params.set('target', this.target);
    const search = params.toString();
    return search ? `${path}?${search}` : path;
  }

  #payload(options: RequestOptions): { headers: Record<string, string>; payload: Dispatcher.DispatchOptions['body'] } {
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    const given = options.headers;
    if (given) for (const name of Object.keys(given)) headers[name.toLowerCase()] = given[name] as string;
    if (options.json !== undefined && options.body !== undefined) throw new TypeError('pass either json or body, not both');
    if (options.json !== undefined) {
      let text: string | undefined;
      try {
        text = JSON.stringify(options.json);
      } catch (error) {
        throw new TypeError(`the json option is not serialisable as JSON: ${(error as Error).message}`, { cause: error });
      }
      if (text === undefined) throw new TypeError(`the json option is not serialisable as JSON: got ${typeof options.json}`);
      headers['content-type'] ??= 'application/json';
      return { headers, payload: text };
    }
    const body = options.body;
    if (body === undefined) return { headers, payload: undefined };
    const isIterable = typeof body === 'object' && body !== null && Symbol.asyncIterator in body;
    if (typeof body !== 'string' && !(body instanceof Uint8Array) && !isIterable) {
      throw new TypeError('the body option must be a string, Uint8Array, Readable or AsyncIterable');
    }
    headers['content-type'] ??= 'application/octet-stream';
    return { headers, payload: isIterable && !(body instanceof Readable) ? Readable.from(body as AsyncIterable<Uint8Array>) : (body as string | Uint8Array | Readable) };
  }
}

function parseEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (error) {
    throw new TypeError(`${endpoint} is not a socket path or an https:// URL`, { cause: error });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`${endpoint}: unsupported scheme ${url.protocol}, use a socket path or https://host:port`);
  }
  if (url.username || url.password) throw new TypeError('the endpoint must not carry credentials; LXD authenticates with the client certificate');
  return endpoint.replace(/\/+$/, '');
}

/** A stream that starts reading `source` only once it is read itself (once a member is connected to). */
function readLater(source: Readable): Readable {
  return Readable.from(
    (async function* () {
      for await (const chunk of source) yield chunk;
    })(),
  );
}

// A `.` or `..` segment, also percent-encoded.
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;
// What URLSearchParams writes unchanged.
const PLAIN = /^[\w.*-]+$/;

/** `a=1&b=x`, as URLSearchParams would write it, when every name and value is plain; undefined when URLSearchParams is needed. */
function plainQuery(query: Query | undefined): string | undefined {
  let search = '';
  for (const name in query) {
    if (!Object.hasOwn(query, name)) continue;
    const value = query[name];
    if (value === undefined) continue;
    const type = typeof value;
    if (type !== 'string' && type !== 'number' && type !== 'boolean') return undefined;
    const text = String(value);
    // A whole number or a boolean is always written as it is; a string may need escaping.
    if (!PLAIN.test(name) || (type === 'string' && !PLAIN.test(text)) || (type === 'number' && !Number.isSafeInteger(value) && !PLAIN.test(text))) return undefined;
    search = search === '' ? `${name}=${text}` : `${search}&${name}=${text}`;
  }
  return search;
}

function checkMethod(method: string): string {
  if (METHODS.has(method)) return method;
  const verb = typeof method === 'string' ? method.toUpperCase() : '';
  if (!METHODS.has(verb)) throw new TypeError(`unknown HTTP method ${String(method)}; use one of ${[...METHODS].join(', ')}`);
  return verb;
}

/** undici's header and body timeout for a request the server may hold `seconds`: null keeps undici's defaults, 0 lifts them. */
function longPollTimeout(seconds: number | undefined): number | null {
  if (seconds === undefined) return null;
  return seconds < 0 ? 0 : seconds * 1000 + LONG_POLL_MARGIN_MS;
}
