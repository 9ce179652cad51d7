import { createHash } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** A server-side websocket after a hand-made handshake: unmasked text frames out, masked frames in. */
export interface ServerSocket {
  socket: Duplex;
  url: string;
  sendText(text: string): void;
  sendBinary(bytes: Buffer): void;
  /** Sends a close frame (and keeps the socket until the client closes). */
  close(code?: number): void;
  /** Drops the TCP/unix connection without a close frame. */
  destroy(): void;
  /** Frames received from the client: opcode and payload. */
  received: Array<{ opcode: number; payload: Buffer }>;
  /** The upgrade request's headers. */
  headers: IncomingMessage['headers'];
  /** Called with each frame from the client as it arrives (set it in the open handler). */
  onFrame?: (opcode: number, payload: Buffer) => void;
}

/**
 * What `accept` decides: a status to refuse with (LXD's generic error text), a
 * status and error text, a handler of the open socket, or `null`: never answer.
 */
export type Decision = number | { status: number; error: string } | ((ws: ServerSocket) => void) | null;

/**
 * Answers websocket upgrades on a node:http server: `accept(req)` returns a
 * status (>= 400 refuses with an LXD error envelope, "not authorized" unless
 * an error text is given) or a handler of the open socket.
 */
export function acceptUpgrades(server: Server, accept: (req: IncomingMessage) => Decision): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const decision = accept(req);
    if (decision === null) return;
    if (typeof decision !== 'function') {
      const { status, error } = typeof decision === 'number' ? { status: decision, error: 'not authorized' } : decision;
      const body = JSON.stringify({ type: 'error', error, error_code: status, metadata: null });
      socket.end(
        `HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    const key = String(req.headers['sec-websocket-key']);
    const accepted = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    // The first subprotocol offered is selected, except on paths with `noproto` (a server that ignores them).
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')[0]
      ?.trim();
    const selected = offered && !(req.url ?? '').includes('noproto') ? `sec-websocket-protocol: ${offered}\r\n` : '';
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accepted}\r\n${selected}\r\n`,
    );
    const ws: ServerSocket = {
      socket,
      url: req.url ?? '',
      headers: req.headers,
      received: [],
      sendText: (text) => socket.write(frame(0x1, Buffer.from(text))),
      sendBinary: (bytes) => socket.write(frame(0x2, bytes)),
      close: (code = 1000) => {
        const payload = Buffer.alloc(2);
        payload.writeUInt16BE(code);
        socket.write(frame(0x8, payload));
      },
      destroy: () => socket.destroy(),
    };
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const parsed = parse(pending);
        if (!parsed) break;
        pending = pending.subarray(parsed.size);
        ws.received.push({ opcode: parsed.opcode, payload: parsed.payload });
        ws.onFrame?.(parsed.opcode, parsed.payload);
        if (parsed.opcode === 0x8) {
          socket.end(frame(0x8, parsed.payload.subarray(0, 2)));
        }
      }
    });
    socket.on('error', () => {});
    decision(ws);
  });
}

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.byteLength;
  const head =
    length < 126 ? Buffer.from([0x80 | opcode, length]) : Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff]);
  return Buffer.concat([head, payload]);
}

function parse(data: Buffer): { opcode: number; payload: Buffer; size: number } | undefined {
  if (data.byteLength < 2) return undefined;
  const opcode = (data[0] as number) & 0x0f;
  let length = (data[1] as number) & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (data.byteLength < 4) return undefined;
    length = data.readUInt16BE(2);
    offset = 4;
  }
  const masked = ((data[1] as number) & 0x80) !== 0;
  const maskAt = offset;
  if (masked) offset += 4;
  if (data.byteLength < offset + length) return undefined;
  const payload = Buffer.from(data.subarray(offset, offset + length));
  if (masked)
    for (let i = 0; i < payload.byteLength; i++)
      payload[i] = (payload[i] as number) ^ (data[maskAt + (i % 4)] as number);
  return { opcode, payload, size: offset + length };
}

/** A node:http server on a fresh unix socket that answers requests with `handler` and upgrades with `accept`. */
export async function wsUnixServer(
  handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void,
  accept: (req: IncomingMessage) => Decision,
): Promise<{ socketPath: string; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'lxdapi-ws-'));
  const socketPath = join(dir, 'unix.socket');
  const server = createServer(handler);
  const close = track(server, accept);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    close: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The same over HTTPS on a free loopback port (`options` carry the certificate, key and client certificate policy). */
export async function wsHttpsServer(
  options: import('node:https').ServerOptions,
  handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void,
  accept: (req: IncomingMessage) => Decision,
): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = await import('node:https');
  const server = createServer(options, handler);
  const close = track(server, accept);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as import('node:net').AddressInfo).port, close };
}

/** Answers upgrades on `server` and returns how to close it with every upgraded socket. */
function track(server: Server, accept: (req: IncomingMessage) => Decision): () => Promise<void> {
  const sockets = new Set<Duplex>();
  server.on('upgrade', (_req, socket: Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  acceptUpgrades(server, accept);
  return async () => {
    for (const socket of sockets) socket.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}
