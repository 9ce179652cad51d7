import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import type { WebSocket } from 'undici';
import { API, APIConnectionError, APIException, APINotFoundException } from '../src/index.ts';
import { websocketUrl } from '../src/websocket.ts';
import { selfSigned } from './helpers/certs.ts';
import { freePort } from './helpers/server.ts';
import { type Decision, type ServerSocket, wsHttpsServer, wsUnixServer } from './helpers/ws.ts';

/** Echoes every text or binary frame back with the same opcode. */
const echo = (ws: ServerSocket) => {
  ws.onFrame = (opcode, payload) => {
    if (opcode === 0x1) ws.sendText(payload.toString('utf8'));
    if (opcode === 0x2) ws.sendBinary(payload);
  };
};

const SECRET = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';

/** The subprotocols each handshake asked for, in order. */
const askedFor: string[] = [];

function route(req: { url?: string | undefined; headers?: Record<string, string | string[] | undefined> }): Decision {
  const path = req.url ?? '';
  askedFor.push(String(req.headers?.['sec-websocket-protocol'] ?? ''));
  if (path.startsWith('/1.0/echo')) return echo;
  if (path.startsWith('/1.0/forbidden')) return { status: 403, error: 'not authorized' };
  if (path.startsWith('/1.0/operations/')) return { status: 403, error: 'Permission denied' };
  return { status: 404, error: 'not found' };
}

/** The next message on the socket. */
function next(ws: WebSocket): Promise<string | ArrayBuffer> {
  return new Promise((resolve) =>
    ws.addEventListener('message', (event) => resolve(event.data as string | ArrayBuffer), { once: true }),
  );
}

describe('api.websocket() over a unix socket', () => {
  let server: Awaited<ReturnType<typeof wsUnixServer>>;
  let api: API;
  before(async () => {
    server = await wsUnixServer((_req, res) => res.end(), route);
    api = API.factory(server.socketPath);
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  test('opens on the API socket and round-trips text and binary messages', async () => {
    assert.equal(websocketUrl(api, '/1.0/echo?x=1'), 'ws://lxd/1.0/echo?x=1');
    const ws = await api.websocket('/1.0/echo?x=1');
    assert.equal(ws.readyState, 1);
    assert.equal(ws.binaryType, 'arraybuffer');
    const text = next(ws);
    ws.send('hello, lxd');
    assert.equal(await text, 'hello, lxd');
    const bytes = Buffer.from([0, 1, 2, 127, 128, 254, 255]);
    const binary = next(ws);
    ws.send(bytes);
    const echoed = await binary;
    assert.ok(echoed instanceof ArrayBuffer);
    assert.deepEqual(Buffer.from(echoed), bytes);
    const closed = new Promise<number>((resolve) =>
      ws.addEventListener('close', (event) => resolve(event.code), { once: true }),
    );
    ws.close(1000);
    assert.equal(await closed, 1000);
  });

  test('protocols: the one the server picks is the socket protocol; none picked fails; a malformed one is a TypeError, not sent', async () => {
    askedFor.length = 0;
    const ws = await api.websocket('/1.0/echo', { protocols: ['lxd-v2', 'lxd'] });
    assert.equal(ws.protocol, 'lxd-v2');
    ws.close();
    await assert.rejects(api.websocket('/1.0/echo-noproto', { protocols: 'lxd' }), {
      name: 'APIConnectionError',
      code: 'ERR_LXD_WEBSOCKET_PROTOCOL',
      message:
        "GET ws://lxd/1.0/echo-noproto failed: the server upgraded the websocket with subprotocol none (asked for lxd) (LXD's own websockets take no subprotocol: leave the protocols option out)",
      hint: "LXD's own websockets take no subprotocol: leave the protocols option out",
    });
    for (const protocols of ['two words', ['lxd', 'lxd']]) {
      await assert.rejects(api.websocket('/1.0/echo', { protocols }), {
        name: 'TypeError',
        message: 'cannot open a websocket to ws://lxd/1.0/echo: Invalid Sec-WebSocket-Protocol value',
      });
    }
    assert.deepEqual(askedFor, ['lxd-v2, lxd', 'lxd']);
  });

  test('a 403 refusal rejects with APIException, its status and the exact LXD error', async () => {
    await assert.rejects(api.websocket('/1.0/forbidden'), (error: unknown) => {
      assert.ok(error instanceof APIException);
      assert.ok(!(error instanceof APINotFoundException));
      assert.equal(error.status, 403);
      assert.equal(error.message, 'GET ws://lxd/1.0/forbidden not authorized (HTTP 403, websocket refused)');
      assert.equal(error.result.data?.error, 'not authorized');
      return true;
    });
  });

  test('a 404 rejects with APINotFoundException', async () => {
    await assert.rejects(api.websocket('/1.0/nowhere'), (error: unknown) => {
      assert.ok(error instanceof APINotFoundException);
      assert.equal(error.status, 404);
      assert.equal(error.message, 'GET ws://lxd/1.0/nowhere not found (HTTP 404, websocket refused)');
      return true;
    });
  });

  test('the secret of an operation websocket never appears in an error message', async () => {
    const url = `/1.0/operations/op1/websocket?secret=${SECRET}`;
    await assert.rejects(api.websocket(url), (error: unknown) => {
      assert.ok(error instanceof APIException);
      assert.equal(
        error.message,
        'GET ws://lxd/1.0/operations/op1/websocket?secret=<redacted> Permission denied (HTTP 403, websocket refused)',
      );
      assert.doesNotMatch(String(error), new RegExp(SECRET));
      assert.doesNotMatch(error.result.requestSummary(), new RegExp(SECRET));
      return true;
    });
    // A transport failure too.
    const gone = await wsUnixServer((_req, res) => res.end(), route);
    const stale = API.factory(gone.socketPath);
    await gone.close();
    await assert.rejects(stale.websocket(url), (error: unknown) => {
      assert.ok(error instanceof APIConnectionError);
      assert.equal(
        error.message,
        `GET ws://lxd/1.0/operations/op1/websocket?secret=<redacted> failed: connect ENOENT ${gone.socketPath} (socket ${gone.socketPath} does not exist: is LXD or Incus running? Set LXD_SOCKET or INCUS_SOCKET (or LXD_DIR, INCUS_DIR), or pass the socket path)`,
      );
      assert.doesNotMatch(`${String(error)} ${error.hint}`, new RegExp(SECRET));
      return true;
    });
    await stale.close();
  });

  test('a missing socket rejects with APIConnectionError ENOENT and the socket hint', async () => {
    const gone = await wsUnixServer((_req, res) => res.end(), route);
    const stale = API.factory(gone.socketPath);
    await gone.close();
    await assert.rejects(stale.websocket('/1.0/echo'), (error: unknown) => {
      assert.ok(error instanceof APIConnectionError);
      assert.equal(error.code, 'ENOENT');
      assert.equal(
        error.hint,
        `socket ${gone.socketPath} does not exist: is LXD or Incus running? Set LXD_SOCKET or INCUS_SOCKET (or LXD_DIR, INCUS_DIR), or pass the socket path`,
      );
      return true;
    });
    await stale.close();
  });

  test('an aborted handshake rejects with the signal reason', async () => {
    const controller = new AbortController();
    const reason = new Error('changed my mind');
    controller.abort(reason);
    await assert.rejects(
      api.websocket('/1.0/echo', { signal: controller.signal }),
      (error: unknown) => error === reason,
    );
  });
});

describe('api.websocket() over TLS', () => {
  // Like LXD's certificate: self-signed, not naming "localhost": only the pin makes https://localhost work.
  const serverPair = selfSigned('lxd-test', ['DNS:lxd-test.invalid', 'IP:127.0.0.1']);
  const otherPair = selfSigned('other', ['DNS:other.invalid', 'IP:127.0.0.1']);
  const client = selfSigned('lxdapi-client', []);
  let server: Awaited<ReturnType<typeof wsHttpsServer>>;
  const peers: string[] = [];
  before(async () => {
    server = await wsHttpsServer(
      { ...serverPair, requestCert: true, rejectUnauthorized: false },
      (_req, res) => res.end(),
      (req) => {
        peers.push(String((req.socket as TLSSocket).getPeerCertificate()?.subject?.CN ?? ''));
        return route(req);
      },
    );
  });
  after(() => server.close());

  test('wss:// with the pinned certificate and the client certificate: open and echo', async () => {
    const api = API.factory(`https://localhost:${server.port}`, { serverCert: serverPair.cert, ...client });
    try {
      assert.equal(websocketUrl(api, '/1.0/echo'), `wss://localhost:${server.port}/1.0/echo`);
      const ws = await api.websocket('/1.0/echo');
      assert.equal(peers.at(-1), 'lxdapi-client');
      const reply = next(ws);
      ws.send(Buffer.from('over tls'));
      assert.equal(Buffer.from((await reply) as ArrayBuffer).toString('utf8'), 'over tls');
      ws.close();
      await assert.rejects(api.websocket(`/1.0/operations/op1/websocket?secret=${SECRET}`), {
        name: 'APIException',
        message: `GET wss://localhost:${server.port}/1.0/operations/op1/websocket?secret=<redacted> Permission denied (HTTP 403, websocket refused)`,
      });
    } finally {
      await api.close();
    }
  });

  test('with several cluster members, a member that refuses the connection is skipped', async () => {
    const closed = await freePort();
    const api = API.factory([`https://127.0.0.1:${closed}`, `https://localhost:${server.port}`], {
      serverCert: serverPair.cert,
      ...client,
    });
    try {
      const ws = await api.websocket('/1.0/echo');
      assert.equal(ws.url, `wss://localhost:${server.port}/1.0/echo`);
      ws.close();
      const alone = API.factory([`https://127.0.0.1:${closed}`], { serverCert: serverPair.cert, ...client });
      await assert.rejects(alone.websocket('/1.0/echo'), {
        name: 'APIConnectionError',
        code: 'ECONNREFUSED',
        endpoint: `https://127.0.0.1:${closed}`,
      });
      await alone.close();
    } finally {
      await api.close();
    }
  });

  test('a wrong pin refuses the websocket with APIConnectionError', async () => {
    const api = API.factory(`https://localhost:${server.port}`, { serverCert: otherPair.cert, ...client });
    const before = peers.length;
    try {
      await assert.rejects(api.websocket('/1.0/echo'), (error: unknown) => {
        assert.ok(error instanceof APIConnectionError);
        assert.match(error.message, new RegExp(`^GET wss://localhost:${server.port}/1\\.0/echo failed: `));
        return true;
      });
      assert.equal(peers.length, before, 'no upgrade request reached the server');
    } finally {
      await api.close();
    }
  });
});
