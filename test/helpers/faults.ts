import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';

/**
 * What the fault server does for a request path. Each one is a way real
 * servers, proxies and networks break; the client must end every one of them
 * with a documented error, within its timeouts.
 */
export const FAULTS = {
  '/1.0/invalid-json': (socket: Socket) => respond(socket, 200, 'application/json', '{"type":"sync","metadata":{'),
  // A byte order mark, then UTF-8 whose multi-byte characters are split across two writes.
  '/1.0/bom-split-utf8': (socket: Socket) => {
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('{"type":"sync","status_code":200,"error":"","metadata":{"name":"café ☃"}}'),
    ]);
    const cut = body.indexOf(Buffer.from('☃')) + 1;
    socket.write(head(200, 'application/json', body.byteLength));
    socket.write(body.subarray(0, cut));
    setTimeout(() => socket.write(body.subarray(cut)), 20);
  },
  '/1.0/short-body': (socket: Socket) => {
    socket.write(head(200, 'application/json', 100));
    socket.end('{"type":"sync"');
  },
  '/1.0/reset-mid-body': (socket: Socket) => {
    socket.write(head(200, 'application/json', 100));
    // Unix sockets have no RST, and a TLS socket cannot send one itself: there, the abrupt close (no close_notify) is the reset.
    const tls = 'encrypted' in socket;
    socket.write('{"type":"sync","metadata":', () =>
      socket.remoteAddress && !tls ? socket.resetAndDestroy() : socket.destroy(),
    );
  },
  '/1.0/never-answers': () => {},
  '/1.0/stalled-body': (socket: Socket) => socket.write(`${head(200, 'application/json', 100)}{"type":`),
  '/1.0/proxy-502': (socket: Socket) =>
    respond(
      socket,
      502,
      'text/html',
      '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>',
    ),
  '/1.0/empty-200': (socket: Socket) => respond(socket, 200, 'application/json', ''),
  '/1.0/null-200': (socket: Socket) => respond(socket, 200, 'application/json', 'null'),
  '/1.0/not-envelope': (socket: Socket) => respond(socket, 200, 'application/json', '{"hello":"world"}'),
  '/1.0/big-json': (socket: Socket) => {
    const item = JSON.stringify({ name: 'x'.repeat(1000), config: { 'user.a': 'b'.repeat(1000) } });
    const count = Math.ceil((50 * 1024 * 1024) / (item.length + 1));
    const body = `{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":[${Array(count).fill(item).join(',')}]}`;
    respond(socket, 200, 'application/json', body);
  },
  '/1.0/deep-json': (socket: Socket) => {
    const depth = 100_000;
    const metadata = `${'{"status_code":200,"metadata":'.repeat(depth)}{"status_code":400,"err":"failed at the bottom"}${'}'.repeat(depth)}`;
    respond(
      socket,
      200,
      'application/json',
      `{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":${metadata}}`,
    );
  },
  '/1.0/async-without-operation': (socket: Socket) =>
    respond(
      socket,
      202,
      'application/json',
      '{"type":"async","status":"Operation created","status_code":100,"operation":"","error_code":0,"error":"","metadata":{"id":"x","status_code":103}}',
    ),
  '/1.0/ok': (socket: Socket) =>
    respond(
      socket,
      200,
      'application/json',
      '{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"ok":true}}',
    ),
} as const;

export type Fault = keyof typeof FAULTS;

export interface FaultServer {
  socketPath: string;
  url: string;
  /** Sockets the server has open right now. */
  open(): number;
  close(): Promise<void>;
}

/** A raw HTTP/1.1 server on a unix socket, or on TLS when given certificates. */
export async function faultServer(tls?: TlsOptions): Promise<FaultServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lxdapi-faults-'));
  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const [method = '', target = ''] = buffered.slice(0, buffered.indexOf('\r\n')).split(' ');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      buffered = buffered.slice(end + 4 + length);
      const fault = FAULTS[target.split('?')[0] as Fault];
      if (fault && method) fault(socket);
      else
        respond(
          socket,
          404,
          'application/json',
          '{"type":"error","error":"not found","error_code":404,"metadata":null}',
        );
    });
  };
  const server: Server = tls ? createTlsServer(tls, onConnection) : createNetServer(onConnection);
  let socketPath = '';
  let url = '';
  if (tls) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  } else {
    socketPath = join(dir, 'unix.socket');
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  }
  return {
    socketPath,
    url,
    open: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function head(status: number, type: string, length: number): string {
  return `HTTP/1.1 ${status} X\r\ncontent-type: ${type}\r\ncontent-length: ${length}\r\n\r\n`;
}

function respond(socket: Socket, status: number, type: string, body: string): void {
  socket.write(head(status, type, Buffer.byteLength(body)) + body);
}
