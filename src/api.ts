// The client: options resolved once by factory(), one-line verbs into request(), and the features
// composed on the connection it implements.
import type { Dispatcher, WebSocket } from 'undici';
import { type EventOf, type EventStream, type EventsOptions, type EventType, openEvents } from './events.ts';
import { type ExecOptions, type ExecSession, exec } from './exec.ts';
import { type PulledFile, type PushContent, type PushFileOptions, pullFile, pushFile } from './files.ts';
import { send } from './http.ts';
import { type Joined, type JoinOptions, joinServer } from './join.ts';
import { createLogger, type Logger } from './log.ts';
import {
  type APIOptions,
  type RequestOptions,
  resolveSettings,
  type Settings,
  type WebSocketOptions,
} from './options.ts';
import { type ResultPromise, resultPromise } from './promise.ts';
import { connectRemote, type RemoteOptions } from './remote.ts';
import { APIResult, type Connection } from './result.ts';
import type { Method, NoQuery, QueryFor, RouteBody, RouteMetadata, ServerKind } from './routes.ts';
import { serverInfo } from './server.ts';
import { givenTransport, openTransport, type Transport } from './transport.ts';
import type { Server, ServerInfo } from './types.ts';
import { requestPath } from './url.ts';
import { openSocket } from './websocket.ts';

/** The response metadata type of a verb: an explicit type argument wins, else the route's documented type. */
export type Metadata<T, M extends Method, U extends string, Q, S extends ServerKind = 'lxd'> = [T] extends [never]
  ? RouteMetadata<M, U, Q, S>
  : T;

/**
 * A client of one LXD or Incus server (or of the members of one cluster), over its unix socket or HTTPS.
 * `S` picks whose documented routes and shapes the verbs are typed with: `API.factory<'incus'>()`.
 */
export class API<S extends ServerKind = 'lxd'> implements Connection, Settings {
  // The resolved settings (options.ts documents them), set by resolveSettings() in the constructor.
  declare readonly defaultVersion: string;
  declare readonly project: string | undefined;
  declare readonly target: string | undefined;
  declare readonly waitTimeout: number;
  declare readonly timeout: number | undefined;
  declare readonly maxResponseBytes: number;
  declare readonly userAgent: string;
  /** The `lxd` debug logger: every transaction goes through it when enabled. */
  readonly log: Logger;
  readonly #transport: Transport;
  #server: Promise<ServerInfo> | undefined;

  /**
   * Connects to LXD: no endpoint finds the local socket, a path names one,
   * `https://host:port` is a remote reached with the client certificate.
   * Several URLs are the members of one cluster: a request that cannot
   * connect to a member moves on to the next; one already sent is never
   * sent again. The member that answers is tried first from then on.
   * @example const api = API.factory();
   * @example const api = API.factory('https://lxd.example:8443', { serverCert, cert, key });
   * @example const api = API.factory(['https://10.0.0.1:8443', 'https://10.0.0.2:8443'], { serverCert, cert, key });
   */
  static factory<S extends ServerKind = 'lxd'>(endpoint?: string | string[], options: APIOptions = {}): API<S> {
    return new API<S>(undefined, undefined, options, openTransport(endpoint, options));
  }

  /** A client of a remote of the `lxc` or `incus` configuration (default: its default remote); see RemoteOptions. */
  static remote<S extends ServerKind = 'lxd'>(name?: string, options: RemoteOptions & APIOptions = {}): API<S> {
    return connectRemote(API.factory<S>, name, options);
  }

  /** Gets the client certificate trusted with a trust token; resolves with the trusted API (see JoinOptions). */
  static join<S extends ServerKind = 'lxd'>(
    token: string,
    options: JoinOptions & Omit<APIOptions, 'serverCert' | 'ca' | 'dispatcher'> = {},
  ): Promise<Joined<API<S>>> {
    return joinServer(API.factory<S>, token, options);
  }

  /**
   * A client over a dispatcher of your own (a proxy, a test double) to `endpoint`
   * (`http+unix://<quoted socket path>` or `https://host:port`). `API.factory()` passes the
   * transport it resolved as the fourth argument instead.
   */
  constructor(dispatcher: Dispatcher, endpoint: string, options?: APIOptions);
  /** @internal */
  constructor(dispatcher: undefined, endpoint: undefined, options: APIOptions, transport: Transport);
  constructor(
    dispatcher: Dispatcher | undefined,
    endpoint: string | undefined,
    options: APIOptions = {},
    transport?: Transport,
  ) {
    this.#transport = transport ?? givenTransport(dispatcher as Dispatcher, endpoint as string);
    Object.assign(this, resolveSettings(options));
    this.log = createLogger(options.debug ?? false);
  }

  /** `http+unix://<quoted socket path>` or `https://host:port`: the member requests go to first. */
  get endpoint(): string {
    return this.#transport.pool.current;
  }

  /** Every endpoint of the API: one, or the members of a cluster in the order given. */
  get members(): readonly string[] {
    return this.#transport.pool.members;
  }

  /** The undici dispatcher requests go through. */
  get dispatcher(): Dispatcher {
    return this.#transport.dispatcher;
  }

  /** The socket path, for a unix endpoint. */
  get socketPath(): string | undefined {
    return this.#transport.socketPath;
  }

  /** `'instances'` becomes `<endpoint>/1.0/instances`; a path starting with `/` is kept. */
  formatUrl(url: string): string {
    return this.endpoint + requestPath(this.endpoint, this, url);
  }

  /**
   * What the server is: `GET /1.0` read once and kept (`refresh: true` reads it again), with its
   * kind (`lxd` or `incus`), version and `hasExtension(name)`.
   */
  server(options: { refresh?: boolean } = {}): Promise<ServerInfo> {
    if (this.#server === undefined || options.refresh) {
      const read = this.request<Server>('GET', `/${this.defaultVersion}`).then((result) => serverInfo(result.metadata));
      // A failed read is not kept: the next call tries again.
      read.catch(() => {
        if (this.#server === read) this.#server = undefined;
      });
      this.#server = read;
    }
    return this.#server;
  }

  /** Writes a file, a directory or a symlink in an instance, the same way on LXD and Incus. */
  pushFile(instance: string, path: string, content: PushContent, options?: PushFileOptions): Promise<APIResult> {
    return pushFile(this, instance, path, content, options);
  }

  /** Reads a file or a directory of an instance, with its type, mode, uid and gid, from LXD or Incus alike. */
  pullFile(instance: string, path: string, options?: { stream?: boolean; signal?: AbortSignal }): Promise<PulledFile> {
    return pullFile(this, instance, path, options);
  }

  /** Releases the connections of the dispatcher `factory()` built. An injected dispatcher is left to its owner. */
  async close(): Promise<void> {
    if (this.#transport.owned) await this.#transport.dispatcher.close();
  }

  /** Subscribes to `/1.0/events`; resolves once the subscription is open (see `EventStream`). */
  events<T extends EventType = EventType>(options?: EventsOptions<T>): Promise<EventStream<EventOf<T>>> {
    return openEvents(this, options);
  }

  /**
   * Opens a websocket (an operation's `/1.0/operations/<id>/websocket?secret=...`) on this API's transport;
   * resolves once open.
   */
  websocket(url: string, options?: WebSocketOptions): Promise<WebSocket> {
    return openSocket({ transport: this.#transport, settings: this, log: this.log, connection: this }, url, options);
  }

  /** Runs a command with `wait-for-websocket` and connects its stdin, stdout, stderr and control websockets. */
  exec(instance: string, command: string[], options?: ExecOptions): Promise<ExecSession> {
    return exec(this, instance, command, options);
  }

  get<T = never, U extends string = string, const Q extends QueryFor<'GET', U, S> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'GET', U, S>, Q>,
  ): ResultPromise<Metadata<T, 'GET', U, Q, S>> {
    return this.request('GET', url, options as RequestOptions);
  }

  post<T = never, U extends string = string, const Q extends QueryFor<'POST', U, S> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'POST', U, S>, Q>,
  ): ResultPromise<Metadata<T, 'POST', U, Q, S>> {
    return this.request('POST', url, options as RequestOptions);
  }

  put<T = never, U extends string = string, const Q extends QueryFor<'PUT', U, S> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'PUT', U, S>, Q>,
  ): ResultPromise<Metadata<T, 'PUT', U, Q, S>> {
    return this.request('PUT', url, options as RequestOptions);
  }

  patch<T = never, U extends string = string, const Q extends QueryFor<'PATCH', U, S> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'PATCH', U, S>, Q>,
  ): ResultPromise<Metadata<T, 'PATCH', U, Q, S>> {
    return this.request('PATCH', url, options as RequestOptions);
  }

  delete<T = never, U extends string = string, const Q extends QueryFor<'DELETE', U, S> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'DELETE', U, S>, Q>,
  ): ResultPromise<Metadata<T, 'DELETE', U, Q, S>> {
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
    const result = new APIResult<T>(this, await send(this.#transport, this, this.log, method, url, options));
    if (this.log.enabled) this.log('%s\n%s', result.responseSummary(), '='.repeat(24));
    result.validate();
    return result;
  }
}
