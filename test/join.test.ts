// API.join() against real local TLS servers: fake LXDs and Incus that behave as the real ones were measured to
// (LXD 5.0 reads `password`, LXD with explicit_trust_token `trust_token` alone, Incus 6.0 `trust_token`), an
// impostor that records every byte it receives, and servers that never answer.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Agent } from 'undici';
import { API, APIConnectionError, APIException, RemoteConfigError } from '../src/index.ts';
import { type Pair, selfSigned } from './helpers/certs.ts';
import { runTsx } from './helpers/child.ts';
import { withEnv } from './helpers/env.ts';
import { failure, freePort, httpsServer, reply, type Seen, sync, type TestServer } from './helpers/server.ts';
import { tokenFingerprint, trustToken } from './helpers/token.ts';

const T = { timeout: 15_000 };
type Kind = 'lxd-5.0' | 'lxd-explicit' | 'incus';

interface FakeServer extends TestServer {
  /** Fingerprints (as Node writes them) of the client certificates it trusts */
  trusted: Set<string>;
  /** The tokens it would accept, once each */
  tokens: Set<string>;
}

/**
 * An LXD or Incus as far as joining goes: `GET /1.0` (auth, api_extensions), `POST /1.0/certificates` (and LXD 6's
 * `/1.0/auth/identities/tls`) taking a token once, from the field that kind reads; 403 for the untrusted elsewhere.
 */
async function fakeServer(
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
async function impostor(pair: Pair) {
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
async function silent(): Promise<{ address: string; connections: () => number; close: () => Promise<void> }> {
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

const paths = (seen: Seen[]) => seen.map((request) => `${request.method} ${request.url}`);
const bodyOf = (request: Seen | undefined) => JSON.parse(request?.body.toString() ?? 'null') as unknown;

describe('API.join()', () => {
  const serverPair = selfSigned('lxd-test', ['IP:127.0.0.1']);
  const otherPair = selfSigned('impostor', ['IP:127.0.0.1']);
  const fingerprint = tokenFingerprint(serverPair.cert);
  const servers: Array<{ close(): Promise<void> }> = [];
  let lxd50: FakeServer;
  let lxd6: FakeServer;
  let incus: FakeServer;
  before(async () => {
    lxd50 = await fakeServer('lxd-5.0', serverPair);
    lxd6 = await fakeServer('lxd-explicit', serverPair);
    incus = await fakeServer('incus', serverPair);
    servers.push(lxd50, lxd6, incus);
  });
  after(async () => {
    for (const server of servers) await server.close();
  });

  /** A token the server accepts once, naming it by address and fingerprint. */
  const issue = (server: FakeServer, fields: Record<string, unknown> = {}) => {
    const token = trustToken({ fingerprint, addresses: [`127.0.0.1:${server.port}`], ...fields });
    server.tokens.add(token);
    return token;
  };

  test(
    'LXD 5.0: the fingerprint checked, the token in password and trust_token, a trusted API returned',
    T,
    async () => {
      const client = selfSigned('joiner', []);
      const token = issue(lxd50);
      const before = lxd50.seen.length;
      const api = await API.join(token, { ...client, project: 'p1' });
      try {
        assert.equal(api.endpoint, lxd50.url);
        assert.equal(api.project, 'p1');
        assert.equal(api.serverCertificate, serverPair.cert.replace(/\r/g, ''));
        const seen = lxd50.seen.slice(before);
        // The join itself goes without the project: it is the trusted API's, for what comes after.
        assert.deepEqual(paths(seen), ['GET /1.0', 'POST /1.0/certificates', 'GET /1.0']);
        assert.deepEqual(bodyOf(seen[1]), { type: 'client', password: token, trust_token: token });
        assert.equal((await api.get('')).metadata.auth, 'trusted');
        await api.get('instances');
        assert.equal(lxd50.seen.at(-1)?.url, '/1.0/instances?project=p1');
      } finally {
        await api.close();
      }
    },
  );

  test('Incus 6.0 takes the same body (it reads trust_token)', T, async () => {
    const client = selfSigned('joiner', []);
    const api = await API.join(issue(incus), client);
    try {
      assert.equal((await api.get('')).metadata.auth, 'trusted');
    } finally {
      await api.close();
    }
  });

  test('a server with explicit_trust_token gets trust_token alone', T, async () => {
    const client = selfSigned('joiner', []);
    const token = issue(lxd6);
    const before = lxd6.seen.length;
    const api = await API.join(token, client);
    try {
      assert.deepEqual(bodyOf(lxd6.seen[before + 1]), { type: 'client', trust_token: token });
      assert.equal((await api.get('')).metadata.auth, 'trusted');
    } finally {
      await api.close();
    }
  });

  test("a token of LXD 6's auth API (with a type) goes to /1.0/auth/identities/tls", T, async () => {
    const client = selfSigned('joiner', []);
    const token = issue(lxd6, { type: 'Client certificate (pending)' });
    const before = lxd6.seen.length;
    const api = await API.join(token, client);
    try {
      assert.deepEqual(paths(lxd6.seen.slice(before)), ['GET /1.0', 'POST /1.0/auth/identities/tls', 'GET /1.0']);
      assert.deepEqual(bodyOf(lxd6.seen[before + 1]), { trust_token: token });
    } finally {
      await api.close();
    }
  });

  test('an impostor at the address receives nothing at all; the genuine server still joins', T, async () => {
    const fake = await impostor(otherPair);
    try {
      const client = selfSigned('joiner', []);
      const token = issue(lxd50, { addresses: [fake.address] });
      const error = await API.join(token, client).then(
        () => assert.fail('joined an impostor'),
        (reason: unknown) => reason,
      );
      assert.ok(error instanceof APIConnectionError, String(error));
      assert.equal(error.code, 'ERR_LXD_CERT_PIN_MISMATCH');
      assert.equal(error.endpoint, `https://${fake.address}`);
      const presented = tokenFingerprint(otherPair.cert);
      const reason = `https://${fake.address} presented certificate ${presented}, not the token's ${fingerprint}`;
      assert.equal(error.message.split(' (')[0], `cannot join with the trust token: ${reason}`);
      assert.match(error.hint, /^nothing was sent to a server whose certificate is not the token's/);
      assert.ok(!error.message.includes(token));
      // The message names the certificate the probe read: its handshake got that far, and it wrote nothing after.
      assert.equal(fake.connections, 1);
      assert.equal(fake.bytes(), 0, 'no application data');

      // The same token, the impostor first: it is skipped, still without a byte, and the real server takes it.
      const api = await API.join(token, { ...client, addresses: [fake.address, `127.0.0.1:${lxd50.port}`] });
      try {
        assert.equal(api.endpoint, lxd50.url);
        assert.equal(fake.connections, 2);
        assert.equal(fake.bytes(), 0);
      } finally {
        await api.close();
      }
    } finally {
      await fake.close();
    }
  });

  test('unreachable addresses are skipped; when none can be reached, the last failure is the error', T, async () => {
    const client = selfSigned('joiner', []);
    const refused = `127.0.0.1:${await freePort()}`;
    const api = await API.join(issue(lxd50, { addresses: [refused, `127.0.0.1:${lxd50.port}`] }), client);
    await api.close();
    assert.equal(api.endpoint, lxd50.url);
    const error = await API.join(trustToken({ fingerprint, addresses: [refused] }), client).catch((e: unknown) => e);
    assert.ok(error instanceof APIConnectionError, String(error));
    assert.equal(error.code, 'ECONNREFUSED');
    assert.match(
      error.message,
      new RegExp(`^cannot join with the trust token: https://${refused}: connect ECONNREFUSED`),
    );
    assert.match(error.hint, /^no address of the token could be reached/);
  });

  test('a server that never completes the handshake times out', T, async () => {
    const quiet = await silent();
    try {
      const token = trustToken({ fingerprint, addresses: [quiet.address] });
      const error = await API.join(token, { ...selfSigned('joiner', []), timeout: 300 }).catch((e: unknown) => e);
      assert.ok(error instanceof APIConnectionError, String(error));
      assert.equal(error.code, 'ETIMEDOUT');
      assert.match(error.message, /no TLS handshake within 300 ms/);
      assert.equal(quiet.connections(), 1);
    } finally {
      await quiet.close();
    }
  });

  test(
    'a refused token rejects with the server’s words, closes the API, and keeps no copy of the token',
    T,
    async () => {
      const client = selfSigned('joiner', []);
      const token = trustToken({ fingerprint, addresses: [`127.0.0.1:${lxd50.port}`] }); // not issued
      const error = await API.join(token, client).catch((e: unknown) => e);
      assert.ok(error instanceof APIException, String(error));
      assert.equal(error.status, 403);
      assert.equal(error.message, `POST ${lxd50.url}/1.0/certificates not authorized`);
      assert.deepEqual(error.result.request.body, {
        type: 'client',
        password: '<redacted>',
        trust_token: '<redacted>',
      });
      const secret = JSON.parse(Buffer.from(token, 'base64').toString()).secret as string;
      for (const text of [
        error.message,
        error.stack ?? '',
        JSON.stringify(error.result.request),
        error.result.requestSummary(),
      ]) {
        assert.ok(!text.includes(token) && !text.includes(secret));
      }
      await assert.rejects(error.result.api.get(''), (closed: unknown) => {
        assert.ok(closed instanceof APIConnectionError);
        assert.equal(closed.code, 'UND_ERR_DESTROYED');
        return true;
      });
    },
  );

  test('an already trusted certificate: the server refuses the token, yet trusts us, so join resolves', T, async () => {
    const client = selfSigned('joiner', []);
    const first = await API.join(issue(lxd50), client);
    await first.close();
    const server = await fakeServer('lxd-5.0', serverPair, () => [400, failure(400, 'Client is already trusted')]);
    try {
      // The same certificate is trusted by this server too.
      server.trusted.add([...lxd50.trusted].at(-1) as string);
      const api = await API.join(trustToken({ fingerprint, addresses: [`127.0.0.1:${server.port}`] }), client);
      await api.close();
      assert.deepEqual(paths(server.seen), ['GET /1.0', 'POST /1.0/certificates', 'GET /1.0']);
    } finally {
      await server.close();
    }
  });

  test('a server that accepts the token but still does not trust us: APIException', T, async () => {
    const server = await fakeServer('lxd-5.0', serverPair, () => [200, sync(null)]);
    try {
      const token = trustToken({ fingerprint, addresses: [`127.0.0.1:${server.port}`] });
      const error = await API.join(token, selfSigned('joiner', [])).catch((e: unknown) => e);
      assert.ok(error instanceof APIException, String(error));
      assert.equal(error.message, `GET ${server.url}/1.0 auth is untrusted after the server accepted the trust token`);
    } finally {
      await server.close();
    }
  });

  test('bad arguments and a bad token are TypeErrors, before any connection', T, async () => {
    const quiet = await silent();
    try {
      const client = selfSigned('joiner', []);
      const token = trustToken({ fingerprint, addresses: [quiet.address] });
      const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
        [
          'cert alone',
          () => API.join(token, { cert: client.cert }),
          /^a client certificate needs both cert and key; only cert/,
        ],
        ['key alone', () => API.join(token, { key: client.key }), /only key was given$/],
        ['cert not PEM', () => API.join(token, { cert: 'x', key: client.key }), /^the cert option is not a PEM cert/],
        [
          'not the pair',
          () => API.join(token, { ...client, key: otherPair.key }),
          /^the key option is not a PEM private key/,
        ],
        [
          'serverCert',
          () => API.join(token, { ...client, serverCert: serverPair.cert } as never),
          /the serverCert option/,
        ],
        ['dispatcher', () => API.join(token, { ...client, dispatcher: new Agent() } as never), /the dispatcher option/],
        ['malformed', () => API.join('not a token', client), /^the trust token is not base64/],
        ['expired', () => API.join(trustToken({ fingerprint, expires_at: '2020-01-01T00:00:00Z' }), client), /expired/],
        [
          'bad address',
          () => API.join(token, { ...client, addresses: ['https://a b'] }),
          /"https:\/\/a b" is not a host/,
        ],
      ];
      for (const [what, join, message] of cases) {
        await assert.rejects(join(), (error: unknown) => {
          assert.ok(error instanceof TypeError, `${what}: ${String(error)}`);
          assert.match(error.message, message, what);
          return true;
        });
      }
      assert.equal(quiet.connections(), 0);
    } finally {
      await quiet.close();
    }
  });

  test(
    "without cert and key, the command line's client.crt and client.key; none there: RemoteConfigError",
    T,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lxdapi-join-'));
      try {
        const client = selfSigned('from-folder', []);
        mkdirSync(join(dir, 'lxc'));
        writeFileSync(join(dir, 'lxc', 'client.crt'), client.cert);
        writeFileSync(join(dir, 'lxc', 'client.key'), client.key);
        await withEnv({ LXD_CONF: join(dir, 'lxc'), INCUS_CONF: undefined }, async () => {
          const api = await API.join(issue(lxd50));
          try {
            assert.equal((await api.get('')).metadata.auth, 'trusted');
          } finally {
            await api.close();
          }
        });
        const error = await API.join(issue(lxd50), { configDir: join(dir, 'empty') }).catch((e: unknown) => e);
        assert.ok(error instanceof RemoteConfigError, String(error));
        assert.equal(error.code, 'ERR_LXD_REMOTE_CERT_MISSING');
        assert.match(
          error.message,
          /^API\.join\(\) needs a client certificate, and .*empty\/client\.crt and .*client\.key/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test('DEBUG=lxd dumps the join with the token and its secret redacted', T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lxdapi-join-debug-'));
    try {
      const client = selfSigned('joiner', []);
      const token = issue(lxd50);
      const secret = JSON.parse(Buffer.from(token, 'base64').toString()).secret as string;
      for (const [name, text] of Object.entries({ token, cert: client.cert, key: client.key })) {
        writeFileSync(join(dir, name), text);
      }
      const child = join(import.meta.dirname, 'fixtures', 'join-debug.ts');
      const { code, output } = await withEnv({ DEBUG: 'lxd' }, () => runTsx([child, dir], 10_000));
      assert.equal(code, 0, output);
      assert.match(
        output,
        /POST https:\/\/127\.0\.0\.1:\d+\/1\.0\/certificates\n\{\n {4}"type": "client",\n {4}"password": "<redacted>"/,
      );
      assert.match(output, /^joined: trusted$/m);
      assert.ok(!output.includes(token) && !output.includes(secret), 'no token, no secret');
      assert.ok(!output.includes('PRIVATE KEY'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
