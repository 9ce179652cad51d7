import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A request as the test server saw it. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface TestServer {
  /** The unix socket path, for a unix server. */
  socketPath: string;
  /** `https://127.0.0.1:<port>` for a TLS server. */
  url: string;
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage & { body: Buffer }, res: ServerResponse) => unknown;

/** A real `node:http` server on a fresh unix socket in a temp folder. */
export async function unixServer(handler: Handler): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lxdapi-'));
  const socketPath = join(dir, 'unix.socket');
  const { server, seen } = serve(createServer(), handler);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    url: '',
    port: 0,
    seen,
    close: async () => {
      await stop(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A real HTTPS server on a free loopback port, or on `port`. */
export async function httpsServer(handler: Handler, options: ServerOptions, port = 0): Promise<TestServer> {
  const { server, seen } = serve(createHttpsServer(options), handler);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return { socketPath: '', url: `https://127.0.0.1:${bound}`, port: bound, seen, close: () => stop(server) };
}

/** A loopback port nothing listens on: it was free a moment ago, so connecting to it is refused. */
export async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function serve(server: Server, handler: Handler): { server: Server; seen: Seen[] } {
  const seen: Seen[] = [];
  const listener: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      Promise.resolve(handler(Object.assign(req, { body }), res)).catch((error: unknown) => {
        res.statusCode = 599;
        res.end(String(error));
      });
    });
  };
  server.on('request', listener);
  return { server, seen };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Writes a JSON answer the way LXD does. */
export function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A sync envelope exactly as a real LXD 5.0 sends it: `error: ""`, `error_code: 0`. */
export function sync(metadata: unknown, status = 200): Record<string, unknown> {
  return {
    type: 'sync',
    status: status === 200 ? 'Success' : 'Created',
    status_code: status,
    operation: '',
    error_code: 0,
    error: '',
    metadata,
  };
}

/** An error envelope. */
export function failure(code: number, error: string): Record<string, unknown> {
  return { type: 'error', status: '', status_code: 0, operation: '', error_code: code, error, metadata: null };
}

/** An operation as LXD describes it. */
export function operation(id: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    class: 'task',
    description: 'Creating instance',
    created_at: '2026-11-23T00:00:00Z',
    updated_at: '2026-11-23T00:00:00Z',
    status: 'Running',
    status_code: 103,
    resources: { instances: ['/1.0/instances/c1'] },
    metadata: null,
    may_cancel: false,
    err: '',
    location: 'none',
    ...fields,
  };
}

/** The async envelope of an operation just created, as LXD sends it with HTTP 202. */
export function created(op: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'async',
    status: 'Operation created',
    status_code: 100,
    operation: `/1.0/operations/${String(op.id)}`,
    error_code: 0,
    error: '',
    metadata: op,
  };
}

/** Answers 202 with the async envelope of an operation, and its `Location`. */
export function accepted(res: ServerResponse, op: Record<string, unknown>): void {
  reply(res, 202, created(op), { location: `/1.0/operations/${String(op.id)}` });
}
