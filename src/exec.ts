import { Readable, Writable } from 'node:stream';
import type { WebSocket } from 'undici';
import { redactUrl } from './redact.ts';
import type { APIResult, Connection } from './result.ts';
import { requireExtension } from './server.ts';
import type { Operation } from './types.ts';
import { operationPath } from './url.ts';

/** Options of `api.exec()`. */
export interface ExecOptions {
  /** Run the command on a pseudo-terminal: one websocket ("0") carries stdin and the merged output. @default false */
  interactive?: boolean;
  /** Environment variables, added to LXD's defaults (`HOME`, `PATH`, `USER`, `LANG`). */
  env?: Record<string, string>;
  cwd?: string;
  user?: number;
  group?: number;
  /** Terminal size of an interactive command. */
  width?: number;
  height?: number;
  /** Aborts: before the sockets are open, rejects with the signal's reason; after, closes them. */
  signal?: AbortSignal;
}

/** A running command whose standard streams are websockets. */
export interface ExecSession {
  /** The exec request's result (202): `operation` is its URL. */
  readonly result: APIResult<Operation>;
  readonly interactive: boolean;
  /** The command's stdin. `end()` tells LXD it has reached its end (an empty text message on fd 0). */
  readonly stdin: Writable;
  /**
   * The command's stdout; interactive: the terminal's output (stdout and stderr merged). Ends when LXD sends its
   * end-of-stream.
   */
  readonly stdout: Readable;
  /** The command's stderr; empty for an interactive command. */
  readonly stderr: Readable;
  /** The control websocket (JSON messages: window size, signals). */
  readonly control: WebSocket;
  /** The operation's final state, from `waitUntilDone()`: rejects if the operation fails. */
  readonly done: Promise<APIResult<Operation>>;
  /** The command's exit code (`metadata.return` of the finished operation). */
  readonly exitCode: Promise<number>;
  /** Resizes the terminal of an interactive command. */
  resize(width: number, height: number): void;
  /** Sends a signal (a number, e.g. 15 for SIGTERM) to the command. */
  signal(signal: number): void;
  /** Closes every websocket, e.g. to abandon the command. */
  close(): void;
}

/**
 * Runs a command in an instance with `wait-for-websocket` and connects its
 * websockets: `POST /1.0/instances/<name>/exec` then `connectExec()`.
 */
export async function exec(
  api: Connection,
  instance: string,
  command: string[],
  options: ExecOptions = {},
): Promise<ExecSession> {
  if (!Array.isArray(command) || command.length === 0 || command.some((part) => typeof part !== 'string')) {
    throw new TypeError('command must be a non-empty array of strings, e.g. ["sh", "-c", "echo hi"]');
  }
  const body: Record<string, unknown> = {
    command,
    'wait-for-websocket': true,
    interactive: options.interactive ?? false,
    environment: options.env ?? {},
  };
  if (options.cwd !== undefined || options.user !== undefined || options.group !== undefined) {
    const feature = 'exec with cwd, user or group';
    requireExtension(await api.server(), 'container_exec_user_group_cwd', feature, api.endpoint);
  }
  if (options.cwd !== undefined) body.cwd = options.cwd;
  if (options.user !== undefined) body.user = options.user;
  if (options.group !== undefined) body.group = options.group;
  if (options.width !== undefined) body.width = options.width;
  if (options.height !== undefined) body.height = options.height;
  const result = await api.request<Operation>(
    'POST',
    `/${api.defaultVersion}/instances/${encodeURIComponent(instance)}/exec`,
    {
      json: body,
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  return connectExec(result, options.signal ? { signal: options.signal } : {});
}

/**
 * Connects the websockets of an exec operation started with
 * `wait-for-websocket: true` (its `metadata.fds`: "0", "1", "2" and
 * "control", or "0" and "control" when interactive). LXD starts the command
 * once all of them are connected.
 */
export async function connectExec(result: APIResult, options: { signal?: AbortSignal } = {}): Promise<ExecSession> {
  const api = result.api;
  const operation = result.metadata as Operation | undefined;
  const fds = operation?.metadata?.fds as Record<string, unknown> | undefined;
  if (
    result.operation === undefined ||
    typeof fds !== 'object' ||
    fds === null ||
    typeof fds['0'] !== 'string' ||
    typeof fds.control !== 'string'
  ) {
    throw new TypeError(
      `${result.request.method} ${redactUrl(result.request.url)}: not an exec operation with websockets ` +
        '(no metadata.fds); send wait-for-websocket: true',
    );
  }
  const interactive = typeof fds['1'] !== 'string';
  const operationUrl = result.operation;
  const url = (secret: string) => operationPath(operationUrl, '/websocket', { secret });

  const stdout = new Readable({ read() {} });
  const stderr = new Readable({ read() {} });
  const names = interactive ? ['0', 'control'] : ['0', '1', '2', 'control'];
  const socketOptions = (name: string) => ({
    ...(options.signal ? { signal: options.signal } : {}),
    attach: (ws: WebSocket) => {
      // A terminal's output ends with LXD's barrier once the command is gone; LXD then waits for
      // the client to finish its side of fd 0 before the operation completes.
      if (name === '0' && interactive) pipeInto(ws, stdout, () => hangUp(ws));
      if (name === '1') pipeInto(ws, stdout);
      if (name === '2') pipeInto(ws, stderr);
    },
  });
  const settled = await Promise.allSettled(
    names.map((name) => api.websocket(url(fds[name] as string), socketOptions(name))),
  );
  const sockets = settled.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : undefined));
  const failed = settled.find((outcome) => outcome.status === 'rejected');
  if (failed) {
    for (const ws of sockets) ws?.close();
    throw (failed as PromiseRejectedResult).reason;
  }
  const [input, control] = [sockets[0] as WebSocket, sockets[sockets.length - 1] as WebSocket];
  // An interactive command's output is all on fd 0: stderr stays empty.
  if (interactive) stderr.push(null);

  const stdin = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (input.readyState !== 1) return callback(new Error('stdin: the websocket is closed'));
      input.send(chunk);
      callback();
    },
    final(callback) {
      // LXD's end-of-stream marker is an empty text message (a "barrier"). On a terminal it hangs
      // the terminal up (the command sees SIGHUP), so an interactive stdin ends without one:
      // write the terminal's EOF character ('\x04') to end a reading command's input.
      if (!interactive && input.readyState === 1) input.send('');
      callback();
    },
  });

  const done = result.waitUntilDone(options.signal ? { signal: options.signal } : {});
  const closeAll = () => {
    for (const ws of sockets) if (ws && ws.readyState <= 1) ws.close(1000);
  };
  void done.then(() => setTimeout(closeAll, 1000).unref(), closeAll);
  const exitCode = done.then((final) => {
    const code = (final.metadata.metadata as { return?: unknown } | null)?.return;
    if (typeof code !== 'number')
      throw new Error(`operation ${result.operation} finished without an exit code (metadata.return)`);
    return code;
  });
  // An unobserved exitCode must not crash the process when done rejects.
  exitCode.catch(() => {});
  const sendControl = (message: Record<string, unknown>) => {
    if (control.readyState !== 1) throw new Error('the control websocket is closed');
    control.send(JSON.stringify(message));
  };
  return {
    result: result as APIResult<Operation>,
    interactive,
    stdin,
    stdout,
    stderr,
    control,
    done,
    exitCode,
    resize(width, height) {
      sendControl({ command: 'window-resize', args: { width: String(width), height: String(height) } });
    },
    signal(signal) {
      sendControl({ command: 'signal', signal });
    },
    close: closeAll,
  };
}

/**
 * Binary messages become data; LXD's empty text message (or the socket
 * closing) ends the stream. On a terminal (`onBarrier` given) the barrier is
 * answered and the stream ends when the socket closes, keeping anything that
 * would follow the barrier (LXD 5.0.2 sends none: its barrier follows the
 * end of its pty reader).
 *
 * Known LXD 5.0.x limit, server side: a terminal's output still buffered in
 * the pty when the command exits can be dropped before it reaches the
 * websocket (the pty reader reads it after the command is gone, then returns
 * without sending it: "Detected closed channel: exiting" in LXD's debug log).
 * Nothing a client does recovers it; a command whose last output matters
 * should not exit right after writing it (see examples/interactive-exec.ts),
 * or should run non-interactively (pipes are drained).
 */
function pipeInto(ws: WebSocket, stream: Readable, onBarrier?: () => void): void {
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      stream.push(null);
    }
  };
  ws.addEventListener('message', (event) => {
    if (ended) return;
    if (typeof event.data === 'string') {
      if (onBarrier) return onBarrier();
      return end();
    }
    stream.push(Buffer.from(event.data as ArrayBuffer));
  });
  ws.addEventListener('close', end, { once: true });
}

/** Answers the server's barrier: our own barrier, then a normal close. */
function hangUp(ws: WebSocket): void {
  if (ws.readyState !== 1) return;
  ws.send('');
  // Late output may still be in flight: the close waits for it (LXD closes its side after its mirror ends).
  setTimeout(() => ws.readyState === 1 && ws.close(1000), 200).unref();
}
