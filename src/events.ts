// `/1.0/events` as an async iterable over one websocket of the connection.
import type { WebSocket } from 'undici';
import type { Connection } from './result.ts';
import type { Operation } from './types.ts';
import { withQuery } from './url.ts';

/** The kinds of event `/1.0/events` streams. */
export type EventType = 'operation' | 'logging' | 'lifecycle';

/**
 * A lifecycle `action`. The common ones are listed for completion; LXD's
 * events documentation has the full table, and newer servers add more.
 */
export type LifecycleAction =
  | 'instance-created'
  | 'instance-deleted'
  | 'instance-started'
  | 'instance-stopped'
  | 'instance-shutdown'
  | 'instance-restarted'
  | 'instance-paused'
  | 'instance-resumed'
  | 'instance-renamed'
  | 'instance-updated'
  | 'instance-exec'
  | 'instance-console'
  | 'instance-file-pushed'
  | 'instance-file-retrieved'
  | 'instance-file-deleted'
  | 'instance-snapshot-created'
  | 'instance-snapshot-deleted'
  | 'image-created'
  | 'image-deleted'
  | 'operation-cancelled'
  | 'certificate-created'
  | 'certificate-deleted'
  | 'config-updated'
  | (string & {});

/** The metadata of a `lifecycle` event: an audit record of one action. */
export interface LifecycleEventMetadata {
  action: LifecycleAction;
  /** The path of what was acted on, e.g. `/1.0/instances/c1`. */
  source: string;
  /** Details that depend on the action (`command` for `instance-exec`, `old_name` for renames, ...). */
  context?: Record<string, unknown> | null;
  /** Who asked, when a request caused the action. */
  requestor?: { username: string; protocol: string; address?: string } | null;
}

/** The metadata of a `logging` event: one line of the daemon's log, whatever its log level. */
export interface LoggingEventMetadata {
  message: string;
  /** `debug`, `info`, `warning`, `error`, ... */
  level: string;
  context: Record<string, string> | null;
}

interface EventBase<T extends EventType, M> {
  type: T;
  /** RFC 3339 time of the event. */
  timestamp: string;
  metadata: M;
  /** The cluster member the event happened on (`none` or absent outside a cluster). */
  location?: string;
  /** The project of the event, when it belongs to one. */
  project?: string;
}

/** An operation was created or changed state or progress. */
export type OperationEvent = EventBase<'operation', Operation>;
export type LifecycleEvent = EventBase<'lifecycle', LifecycleEventMetadata>;
export type LoggingEvent = EventBase<'logging', LoggingEventMetadata>;
/** One message of `/1.0/events`, discriminated by `type`. */
export type LXDEvent = OperationEvent | LifecycleEvent | LoggingEvent;
/** The events of the given types. */
export type EventOf<T extends EventType> = Extract<LXDEvent, { type: T }>;

/** Options of `api.events()`. */
export interface EventsOptions<T extends EventType = EventType> {
  /** The event types to receive. @default all three */
  type?: T | readonly T[];
  /** Only this project's events. @default the API's `project`, else the default project */
  project?: string;
  /** The events of every project (`all-projects=true`). */
  allProjects?: boolean;
  /**
   * Aborts the subscription: before it is open, `api.events()` rejects with
   * the signal's reason; after, the stream is closed and iteration ends.
   */
  signal?: AbortSignal;
  /** Milliseconds the websocket handshake may take. @default the API's `timeout`, else none */
  timeout?: number;
}

/** How an event stream ended. */
export interface EventStreamEnd {
  /** `client`: `close()` or `break`; `abort`: the signal; `server`: LXD closed it or the connection dropped. */
  by: 'client' | 'abort' | 'server';
  /** The websocket close code: 1000 for a clean close, 1006 when the connection dropped without a close frame. */
  code: number;
  reason: string;
}

/**
 * The `/1.0/events` websocket as an async iterable. Events that arrive
 * before they are pulled are buffered in order.
 *
 * Iteration never throws. It ends when `close()` is called, the loop breaks,
 * the signal aborts (these three drop what is buffered), or when the server
 * closes the socket or the connection drops (then what is buffered is still
 * delivered first). `ended` says which, with the close code: a server that
 * went away shows as `{ by: 'server', code: 1006 }`.
 */
export class EventStream<E extends LXDEvent = LXDEvent> implements AsyncIterableIterator<E> {
  /** The underlying websocket (undici's), open. */
  readonly socket: WebSocket;
  /** Resolves once the stream has ended, saying how. */
  readonly ended: Promise<EventStreamEnd>;
  readonly #queue: E[] = [];
  readonly #waiting: Array<(result: IteratorResult<E>) => void> = [];
  #end: EventStreamEnd | undefined;
  #by: EventStreamEnd['by'] | undefined;
  #resolveEnded!: (end: EventStreamEnd) => void;
  #onInvalid: (text: string, error: unknown) => void;

  /** @internal Built by `openEvents()`. */
  constructor(socket: WebSocket, onInvalid: (text: string, error: unknown) => void = () => {}) {
    this.socket = socket;
    this.#onInvalid = onInvalid;
    this.ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
    socket.addEventListener('message', (event) => this.#push(event.data));
    socket.addEventListener('close', (event) => this.#finish(event.code, event.reason), { once: true });
  }

  /** Events received and not yet pulled. */
  get buffered(): number {
    return this.#queue.length;
  }

  next(): Promise<IteratorResult<E>> {
    const event = this.#queue.shift();
    if (event !== undefined) return Promise.resolve({ value: event, done: false });
    if (this.#end || this.#by) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Called by `break` in `for await`: closes the stream. */
  async return(): Promise<IteratorResult<E>> {
    await this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Closes the websocket, drops buffered events and ends iteration; resolves once the socket is closed. */
  close(): Promise<EventStreamEnd> {
    this.#stop('client');
    return this.ended;
  }

  /** @internal The abort path. */
  abort(): void {
    this.#stop('abort');
  }

  #stop(by: EventStreamEnd['by']): void {
    if (this.#end || this.#by) return;
    this.#by = by;
    this.#queue.length = 0;
    this.#release();
    this.socket.close(1000);
  }

  #push(data: unknown): void {
    if (this.#by) return;
    const text = typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString('utf8');
    let event: E;
    try {
      event = JSON.parse(text) as E;
    } catch (error) {
      this.#onInvalid(text, error);
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter) waiter({ value: event, done: false });
    else this.#queue.push(event);
  }

  #finish(code: number, reason: string): void {
    this.#end = { by: this.#by ?? 'server', code, reason };
    this.#release();
    this.#resolveEnded(this.#end);
  }

  #release(): void {
    for (const waiter of this.#waiting.splice(0)) waiter({ value: undefined, done: true });
  }
}

/**
 * Subscribes to `/1.0/events` and resolves once the subscription is open, so
 * that work started afterwards has all its events in the stream. Rejects as
 * `api.websocket()` does: `APIException` with the status when LXD refuses
 * (403 for an untrusted client), `APIConnectionError` when it cannot be
 * reached, the signal's reason when aborted first.
 */
export async function openEvents<T extends EventType = EventType>(
  api: Connection,
  options: EventsOptions<T> = {},
): Promise<EventStream<EventOf<T>>> {
  let type: string | undefined;
  if (options.type !== undefined) {
    const types = typeof options.type === 'string' ? [options.type] : [...options.type];
    if (types.length === 0) throw new TypeError('the type option lists no event type');
    type = types.join(',');
  }
  const query = { type, project: options.project, 'all-projects': options.allProjects ? 'true' : undefined };
  let stream: EventStream<EventOf<T>> | undefined;
  const onInvalid = (text: string, error: unknown) => {
    if (api.log.enabled)
      api.log('events: skipped a message that is not JSON (%s): %s', (error as Error).message, text.slice(0, 200));
  };
  await api.websocket(withQuery(`/${api.defaultVersion}/events`, '', query), {
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    // Listening from the start: a message in the same packet as the upgrade response is not lost.
    attach: (ws) => {
      stream = new EventStream<EventOf<T>>(ws, onInvalid);
    },
  });
  const opened = stream as unknown as EventStream<EventOf<T>>;
  const { signal } = options;
  if (signal) {
    const abort = () => opened.abort();
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    void opened.ended.then(() => signal.removeEventListener('abort', abort));
  }
  return opened;
}
