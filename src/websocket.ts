import type { Dispatcher } from 'undici';
import { WebSocket } from 'undici';
import type { API } from './api.ts';
import { redactUrl } from './debug.ts';
import { APIConnectionError, APIException, APINotFoundException } from './errors.ts';
import { isEnvelope } from './response.ts';
import { APIResult, bodyStart } from './result.ts';
import { connectionError, NOT_SENT } from './transport.ts';

/** Options of `api.websocket()`. */
export interface WebSocketOptions {
  /** Aborts the handshake; the promise rejects with the signal's reason. Once open, the socket is closed. */
  signal?: AbortSignal;
  /** Milliseconds the handshake may take. @default the API's `timeout` option, else none */
  timeout?: number;
  /** Subprotocols to ask for; the server must pick one of them, else the handshake fails (`ERR_LXD_WEBSOCKET_PROTOCOL`). LXD's own websockets use none. */
  protocols?: string | string[];
  /** Extra request headers of the handshake. */
  headers?: Record<string, string>;
  /**
   * Called with the socket as soon as it is created, before it opens: listeners
   * added here see every message, even one that arrives with the handshake.
   */
  attach?: (socket: WebSocket) => void;
}

/**
 * The websocket URL of an API path: `ws://lxd/<path>` for a unix socket (the
 * API's dispatcher carries the socket path), `wss://host:port/<path>` for a
 * TLS remote. Relative paths resolve as in `api.formatUrl()`, and the API's
 * `project` is added the same way.
 */
export function websocketUrl(api: API, url: string, endpoint = api.endpoint): string {
  const path = api.formatUrl(url).slice(api.endpoint.length);
  if (api.socketPath !== undefined) return `ws://lxd${path}`;
  return endpoint.replace(/^http/, 'ws') + path;
}

interface Handshake {
  status?: number;
  statusText?: string;
  headers?: Record<string, string | string[] | undefined>;
  body: Buffer[];
  error?: Error;
}

/**
 * Opens a websocket on the API's own transport (its unix socket, or TLS with
 * its certificates and pin) and resolves once it is open. undici's WebSocket
 * drops why a handshake failed, so the dispatcher is composed with an
 * interceptor that records the upgrade response or the connection error:
 * an HTTP refusal rejects with `APIException` (`APINotFoundException` on
 * 404) carrying the status and LXD's error text, a transport failure with
 * `APIConnectionError` and the same hints as requests. URLs in messages have
 * their `secret=` redacted.
 */
export async function openWebSocket(api: API, url: string, options: WebSocketOptions = {}): Promise<WebSocket> {
  // The members of a cluster in turn, from the API's current one, while none can be connected to.
  const start = Math.max(api.members.indexOf(api.endpoint), 0);
  for (let attempt = 0; ; attempt++) {
    const endpoint = api.members[(start + attempt) % api.members.length] as string;
    try {
      return await openOn(api, endpoint, url, options);
    } catch (error) {
      const unsent = error instanceof APIConnectionError && NOT_SENT.has(error.code);
      if (!unsent || attempt + 1 >= api.members.length || options.signal?.aborted) throw error;
      if (api.log.enabled) api.log('%s: %s, trying the next member', endpoint, error.message);
    }
  }
}

function openOn(api: API, endpoint: string, url: string, options: WebSocketOptions): Promise<WebSocket> {
  const target = websocketUrl(api, url, endpoint);
  const record: Handshake = { body: [] };
  const dispatcher = observe(api.dispatcher, record);
  const log = api.log;
  if (log.enabled) log('WEBSOCKET %s', redactUrl(target));
  return new Promise<WebSocket>((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) return reject(signal.reason);
    let ws: WebSocket;
    try {
      ws = new WebSocket(target, {
        dispatcher,
        ...(options.protocols !== undefined ? { protocols: options.protocols } : {}),
        headers: { 'user-agent': api.userAgent, ...options.headers },
      });
    } catch (error) {
      // undici's DOMException SyntaxError (a repeated or malformed subprotocol): a bad argument, nothing sent.
      return reject(new TypeError(`cannot open a websocket to ${redactUrl(target)}: ${(error as Error).message}`, { cause: error }));
    }
    ws.binaryType = 'arraybuffer';
    options.attach?.(ws);
    const deadline = options.timeout ?? api.timeout;
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
      if (timedOut) {
        return reject(
          connectionError(Object.assign(new Error(`timed out after ${deadline} ms`), { code: 'ERR_LXD_TIMEOUT' }), context(api, endpoint, target)),
        );
      }
      reject(handshakeError(api, endpoint, target, record, event, options.protocols));
    };
    ws.addEventListener('open', onOpen);
    ws.addEventListener('close', onClose);
  });
}

function context(api: API, endpoint: string, url: string) {
  return { method: 'GET', url, endpoint, socketPath: api.socketPath, tls: url.startsWith('wss:') };
}

function handshakeError(api: API, endpoint: string, url: string, record: Handshake, event: { code: number; reason: string }, protocols?: string | string[]): Error {
  if (record.error) return connectionError(record.error, context(api, endpoint, url));
  const offered = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
  const selected = record.status === 101 ? record.headers?.['sec-websocket-protocol'] : undefined;
  if (record.status === 101 && offered.length > 0 && (typeof selected !== 'string' || !offered.includes(selected))) {
    // The client must fail a connection whose server picks none of the subprotocols asked for (RFC 6455, 4.1).
    const picked = typeof selected === 'string' ? `"${selected}", which was not asked for` : 'none';
    return new APIConnectionError(`GET ${redactUrl(url)} failed: the server upgraded the websocket with subprotocol ${picked} (asked for ${offered.join(', ')})`, {
      endpoint,
      code: 'ERR_LXD_WEBSOCKET_PROTOCOL',
      hint: "LXD's own websockets take no subprotocol: leave the protocols option out",
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
    const lxdError = typeof (data as { error?: unknown } | undefined)?.error === 'string' ? (data as { error: string }).error : '';
    const text = lxdError || (bytes.byteLength ? bodyStart(bytes) : record.statusText || 'no websocket upgrade');
    const result = new APIResult(api, {
      request: { method: 'GET', url, headers: {} },
      response: { status: record.status, headers: record.headers ?? {} },
      ...(isEnvelope(data) ? { data } : { body: bytes }),
    });
    const message = `GET ${redactUrl(url)} ${text} (HTTP ${record.status}, websocket refused)`;
    return record.status === 404 ? new APINotFoundException(message, result) : new APIException(message, result);
  }
  return new APIConnectionError(`GET ${redactUrl(url)} failed: the websocket closed during its handshake (code ${event.code}${event.reason ? `, ${event.reason}` : ''})`, {
    endpoint,
    code: 'ERR_LXD_WEBSOCKET',
    hint: '',
  });
}

/** The dispatcher, composed with an interceptor that records the handshake's response status, body and connection error. */
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
