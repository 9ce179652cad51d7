// Local TLS servers for the API.join() tests: fake LXDs and Incus that behave as the real ones were measured to
// (LXD 5.0 reads `password`, LXD with explicit_trust_token `trust_token` alone, Incus 6.0 `trust_token`), an
// impostor that records every byte of application data it receives, and a server that never speaks.
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Pair } from './certs.ts';
import { failure, httpsServer, reply, type Seen, sync, type TestServer } from './server.ts';
import { trustToken } from './token.ts';
export type Kind = 'lxd-5.0' | 'lxd-explicit' | 'incus';

export interface FakeServer extends TestServer {
  /** Fingerprints (as Node writes them) of the client certificates it trusts */
  trusted: Set<string>;
  /** The tokens it would accept, once each */
  tokens: Set<string>;
}

/**
 * An LXD or Incus as far as joining goes: `GET /1.0` (auth, api_extensions), `POST /1.0/certificates` (and LXD 6's
 * `/1.0/auth/identities/tls`) taking a token once, from the field that kind reads; 403 for the untrusted elsewhere.
 */
export async function fakeServer(
  kind: Kind,
  pair: Pair,
  answer?: (body: Record<string, unknown>) => unknown,
): Promise<FakeServer> {
  const trusted = new Set<string>();
  const tokens = new Set<string>();
  const server = await httpsServer(
    (req, res) => {
      const fingerprint = (req.socket as TLSSocket).getPeerCertificate()?.fingerprint256 ?? '';
      const auth = trusted.has(fingerprint) ? 'trusted' : 'untrusted';
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'GET' && path === '/1.0') {
        const api_extensions = ['certificate_token', ...(kind === 'lxd-explicit' ? ['explicit_trust_token'] : [])];
        return reply(res, 200, sync({ auth, api_extensions, auth_methods: ['tls'] }));
      }
      if (req.method === 'POST' && ['/1.0/certificates', '/1.0/auth/identities/tls'].includes(req.url ?? '')) {
        const body = JSON.parse(req.body.toString()) as Record<string, unknown>;
        if (answer) {
          const [status, envelope] = answer(body) as [number, unknown];
          return reply(res, status, envelope);
        }
        if (kind === 'lxd-explicit' && body.password !== undefined) {
          return reply(res, 501, failure(501, 'Trust password authentication is no longer supported'));
        }
        const token = kind === 'lxd-5.0' ? body.password : body.trust_token;
        if (typeof token !== 'string' || !tokens.delete(token)) return reply(res, 403, failure(403, 'not authorized'));
        trusted.add(fingerprint);
        return reply(res, 201, sync(null, 201));
      }
      if (auth !== 'trusted') return reply(res, 403, failure(403, 'not authorized'));
      reply(res, 200, sync([]));
    },
    { ...pair, requestCert: true, rejectUnauthorized: false },
  );
  return Object.assign(server, { trusted, tokens });
}

/** A TLS server with `pair`'s certificate that records every byte of application data a client sends. */
export async function impostor(pair: Pair) {
  const received: Buffer[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createTlsServer(pair, (socket) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => {});
  });
  // The client closes as soon as it has read the certificate: the server may see that before its handshake ends.
  server.on('tlsClientError', () => {});
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    bytes: () => Buffer.concat(received).length,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A TCP server that accepts connections and never speaks: a handshake with it never completes. */
export async function silent(): Promise<{ address: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: NetServer = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export const paths = (seen: Seen[]) => seen.map((request) => `${request.method} ${request.url}`);
export const bodyOf = (request: Seen | undefined) => JSON.parse(request?.body.toString() ?? 'null') as unknown;

/** A token that `server` accepts once, naming it by its address and the fingerprint `fingerprint`. */
export function issue(server: FakeServer, fingerprint: string, fields: Record<string, unknown> = {}): string {
  const token = trustToken({ fingerprint, addresses: [`127.0.0.1:${server.port}`], ...fields });
  server.tokens.add(token);
  return token;
}
