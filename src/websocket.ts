// Websockets on the API's own transport (its unix socket, or TLS with its certificates and pin), with
// the reason a handshake failed: undici's WebSocket drops it, so the dispatcher is composed with an
// interceptor that records the upgrade response or the connection error.
import type { Dispatcher } from 'undici';
import { WebSocket } from 'undici';
import { clientHeaders } from './body.ts';
import { APIConnectionError, apiException } from './errors.ts';
import { connectionError, type FailureContext, timeoutCause } from './hints.ts';
import type { Logger } from './log.ts';
import type { Settings, WebSocketOptions } from './options.ts';
import { redactUrl } from './redact.ts';
import { bodyStart, isEnvelope } from './response.ts';
import { APIResult, type Connection } from './result.ts';
import type { Transport } from './transport.ts';
import { requestPath } from './url.ts';

/** What `websocketUrl()` needs of an API. */
export interface WebSocketBase {
  readonly endpoint: string;
  readonly socketPath: string | undefined;
  formatUrl(url: string): string;
}

/**
 * The websocket URL of an API path: `ws://lxd/<path>` for a unix socket (the
 * API's dispatcher carries the socket path), `wss://host:port/<path>` for a
 * TLS remote. Relative paths resolve as in `api.formatUrl()`, and the API's
 * `project` is added the same way.
 */
export function websocketUrl(api: WebSocketBase, url: string, endpoint = api.endpoint): string {
  const path = api.formatUrl(url).slice(api.endpoint.length);
  if (api.socketPath !== undefined) return `ws://lxd${path}`;
  return endpoint.replace(/^http/, 'ws') + path;
}

/** `api.websocket(url, options)`, as a function of the connection. */
export function openWebSocket(api: Connection, url: string, options?: WebSocketOptions): Promise<WebSocket> {
  return api.websocket(url, options);
}

interface Handshake {
  status?: number;
  statusText?: string;
  headers?: Record<string, string | string[] | undefined>;
  body: Buffer[];
  error?: Error;
}

/** What a websocket is opened with: the transport, the settings, the logger, the connection for results. */
export interface SocketContext {
  readonly transport: Transport;
  readonly settings: Settings;
  readonly log: Logger;
  readonly connection: Connection;
}

/**
 * Opens a websocket and resolves once it is open, trying the members in turn while none can be
 * connected to. An HTTP refusal rejects with `APIException` (`APINotFoundException` on 404)
 * carrying the status and LXD's error text, a transport failure with `APIConnectionError` and the
 * same hints as requests. URLs in messages have their `secret=` redacted.
 */
export function openSocket(context: SocketContext, url: string, options: WebSocketOptions = {}): Promise<WebSocket> {
  const { transport, settings, log } = context;
  // Resolved against the first member; every member serves the same paths.
  const path = requestPath(transport.pool.current, settings, url);
  return transport.pool.each(
    (endpoint) => openOn(context, endpoint, path, options),
    () => !options.signal?.aborted,
    log,
  );
}

function openOn(context: SocketContext, endpoint: string, path: string, options: WebSocketOptions): Promise<WebSocket> {
  const { transport, settings, log } = context;
  const target = transport.socketPath === undefined ? endpoint.replace(/^http/, 'ws') + path : `ws://lxd${path}`;
  const record: Handshake = { body: [] };
  const dispatcher = observe(transport.dispatcher, record);
  if (log.enabled) log('WEBSOCKET %s', redactUrl(target));
  const failure: FailureContext = {
    method: 'GET',
    url: target,
    endpoint,
    socketPath: transport.socketPath,
    tls: target.startsWith('wss:'),
  };
  return new Promise<WebSocket>((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) return reject(signal.reason);
    let ws: WebSocket;
    try {
      ws = new WebSocket(target, {
        dispatcher,
        ...(options.protocols !== undefined ? { protocols: options.protocols } : {}),
        headers: clientHeaders(settings.userAgent, options.headers),
      });
    } catch (error) {
      // undici's DOMException SyntaxError (a repeated or malformed subprotocol): a bad argument, nothing sent.
      const message = `cannot open a websocket to ${redactUrl(target)}: ${(error as Error).message}`;
      return reject(new TypeError(message, { cause: error }));
    }
    ws.binaryType = 'arraybuffer';
    options.attach?.(ws);
    const deadline = options.timeout ?? settings.timeout;
    let timedOut = false;
    const timer =
      deadline === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            ws.close();
          }, deadline);
    const onAbort = () => ws.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      ws.removeEventListener('open', onOpen);
      ws.removeEventListener('close', onClose);
    };
    const onOpen = () => {
      settle();
      if (log.enabled) log('WEBSOCKET %s open', redactUrl(target));
      // Closing the socket when the caller's signal aborts later on.
      if (signal) {
        const close = () => ws.close();
        signal.addEventListener('abort', close, { once: true });
        ws.addEventListener('close', () => signal.removeEventListener('abort', close), { once: true });
      }
      resolve(ws);
    };
    const onClose = (event: { code: number; reason: string }) => {
      settle();
      if (signal?.aborted) return reject(signal.reason);
      if (timedOut) return reject(connectionError(timeoutCause(deadline), failure));
      reject(handshakeError(context.connection, failure, record, event, options.protocols));
    };
    ws.addEventListener('open', onOpen);
    ws.addEventListener('close', onClose);
  });
}

function handshakeError(
  connection: Connection,
  failure: FailureContext,
  record: Handshake,
  event: { code: number; reason: string },
  protocols?: string | string[],
): Error {
  const { url, endpoint } = failure;
  if (record.error) return connectionError(record.error, failure);
  const offered = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
  const selected = record.status === 101 ? record.headers?.['sec-websocket-protocol'] : undefined;
  if (record.status === 101 && offered.length > 0 && (typeof selected !== 'string' || !offered.includes(selected))) {
    // The client must fail a connection whose server picks none of the subprotocols asked for (RFC 6455, 4.1).
    const picked = typeof selected === 'string' ? `"${selected}", which was not asked for` : 'none';
    const message = `the server upgraded the websocket with subprotocol ${picked} (asked for ${offered.join(', ')})`;
    return new APIConnectionError(`GET ${redactUrl(url)} failed: ${message}`, {
      endpoint,
      code: 'ERR_LXD_WEBSOCKET_PROTOCOL',
      hint: "LXD's own websockets take no subprotocol: leave the protocols option out",
      request: { method: 'GET', url },
    });
  }
  if (record.status !== undefined && record.status !== 101) {
    const bytes = Buffer.concat(record.body);
    let data: unknown;
    try {
      data = bytes.byteLength ? JSON.parse(bytes.toString('utf8')) : undefined;
    } catch {
      data = undefined;
    }
    const lxdError =
      typeof (data as { error?: unknown } | undefined)?.error === 'string' ? (data as { error: string }).error : '';
    const text = lxdError || (bytes.byteLength ? bodyStart(bytes) : record.statusText || 'no websocket upgrade');
    const result = new APIResult(connection, {
      endpoint,
      request: { method: 'GET', url, headers: {} },
      response: { status: record.status, headers: record.headers ?? {} },
      ...(isEnvelope(data) ? { data } : { body: bytes }),
    });
    return apiException(result, `${text} (HTTP ${record.status}, websocket refused)`);
  }
  const closed = `code ${event.code}${event.reason ? `, ${event.reason}` : ''}`;
  return new APIConnectionError(`GET ${redactUrl(url)} failed: the websocket closed during its handshake (${closed})`, {
    endpoint,
    code: 'ERR_LXD_WEBSOCKET',
    hint: '',
    request: { method: 'GET', url },
  });
}

/**
 * The dispatcher, composed with an interceptor that records the handshake's response status, body and connection
 * error.
 */
function observe(dispatcher: Dispatcher, record: Handshake): Dispatcher {
  return dispatcher.compose((dispatch) => (opts, handler) => {
    const wrapped: Dispatcher.DispatchHandler = {
      onRequestStart: (controller, ctx) => handler.onRequestStart?.(controller, ctx),
      onRequestUpgrade: (controller, statusCode, headers, socket) => {
        record.status = statusCode;
        record.headers = headers;
        handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
      },
      onResponseStart: (controller, statusCode, headers, statusMessage) => {
        record.status = statusCode;
        record.headers = headers;
        if (statusMessage !== undefined) record.statusText = statusMessage;
        handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
      },
      onResponseData: (controller, chunk) => {
        if (record.body.reduce((size, part) => size + part.byteLength, 0) < 65536) record.body.push(Buffer.from(chunk));
        handler.onResponseData?.(controller, chunk);
      },
      onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
      onResponseError: (controller, error) => {
        if (record.status === undefined) record.error = error;
        handler.onResponseError?.(controller, error);
      },
    };
    return dispatch(opts, wrapped);
  });
}
