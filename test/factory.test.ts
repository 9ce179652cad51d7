import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { API, findSocket, socketCandidates, unixEndpoint, VERSION } from '../src/index.ts';
import { withEnv } from './helpers/env.ts';
import { reply, sync, type TestServer, unixServer } from './helpers/server.ts';

describe('API.factory()', () => {
  let server: TestServer;
  before(async () => {
    server = await unixServer((_req, res) => reply(res, 200, sync({ api_version: '1.0' })));
  });
  after(() => server.close());

  test('renders a unix socket endpoint exactly like lxdapi', () => {
    assert.equal(unixEndpoint('/var/lib/lxd/unix.socket'), 'http+unix://%2Fvar%2Flib%2Flxd%2Funix.socket');
    assert.equal(unixEndpoint("/tmp/a b/it's(1)*!"), 'http+unix://%2Ftmp%2Fa+b%2Fit%27s%281%29%2A%21');
  });

  test('connects to a socket path and answers through it', async () => {
    const api = API.factory(server.socketPath);
    try {
      assert.equal(api.endpoint, unixEndpoint(server.socketPath));
      assert.equal(api.socketPath, server.socketPath);
      const result = await api.get('');
      assert.deepEqual(result.metadata, { api_version: '1.0' });
      assert.equal(server.seen.at(-1)?.url, '/1.0');
    } finally {
      await api.close();
    }
  });

  test('throws at once, synchronously, when the socket does not exist', () => {
    assert.throws(() => API.factory('/nonexistent/lxd/unix.socket'), {
      name: 'APIConnectionError',
      code: 'ENOENT',
      endpoint: 'http+unix://%2Fnonexistent%2Flxd%2Funix.socket',
      message:
        'Socket /nonexistent/lxd/unix.socket does not exist (is LXD or Incus running? Set LXD_SOCKET or INCUS_SOCKET (or LXD_DIR, INCUS_DIR), or pass the socket path)',
    });
  });

  test('finds the socket through LXD_SOCKET, then LXD_DIR, in the documented order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lxdapi-dir-'));
    try {
      writeFileSync(join(dir, 'unix.socket'), '');
      assert.deepEqual(
        socketCandidates({ LXD_SOCKET: '/a.sock', LXD_DIR: '/b', INCUS_SOCKET: '/c.sock', INCUS_DIR: '/d' }),
        [
          '/a.sock',
          '/b/unix.socket',
          '/c.sock',
          '/d/unix.socket',
          '/d/unix.socket.user',
          '/var/snap/lxd/common/lxd/unix.socket',
          '/var/lib/lxd/unix.socket',
          '/run/incus/unix.socket',
          '/var/lib/incus/unix.socket',
          '/var/lib/incus/unix.socket.user',
        ],
      );
      assert.equal(findSocket({ LXD_SOCKET: '/missing.sock', LXD_DIR: dir }), join(dir, 'unix.socket'));
      assert.equal(findSocket({ INCUS_DIR: dir }), join(dir, 'unix.socket'));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test('uses LXD_DIR from the environment when given no endpoint', async () => {
    await withEnv({ LXD_SOCKET: undefined, LXD_DIR: join(server.socketPath, '..') }, async () => {
      const api = API.factory();
      try {
        assert.equal(api.socketPath, server.socketPath);
        assert.equal((await api.get('')).status, 200);
      } finally {
        await api.close();
      }
    });
  });

  test('names every path it tried when no socket exists', () => {
    assert.throws(() => findSocket({ LXD_DIR: '/nope' }), {
      message: `No LXD or Incus socket found; tried ${socketCandidates({ LXD_DIR: '/nope' }).join(', ')}: is LXD or Incus running? Set LXD_SOCKET or INCUS_SOCKET (or LXD_DIR, INCUS_DIR), or pass the socket path to API.factory().`,
    });
    assert.deepEqual(socketCandidates({ LXD_DIR: '/nope' }), [
      '/nope/unix.socket',
      '/var/snap/lxd/common/lxd/unix.socket',
      '/var/lib/lxd/unix.socket',
      '/run/incus/unix.socket',
      '/var/lib/incus/unix.socket',
      '/var/lib/incus/unix.socket.user',
    ]);
  });

  test('refuses plain http:// without a dispatcher, and other schemes always', () => {
    assert.throws(() => API.factory('http://127.0.0.1:8443'), {
      name: 'TypeError',
      message:
        'http://127.0.0.1:8443: LXD serves its API over HTTPS only; use https://, or pass a dispatcher for a plain-HTTP proxy',
    });
    assert.throws(() => API.factory('ftp://host'), {
      name: 'TypeError',
      message: 'ftp://host: unsupported scheme ftp:, use a socket path or https://host:port',
    });
    assert.throws(() => API.factory('not a url'), {
      name: 'TypeError',
      message: 'not a url is not a socket path or an https:// URL',
    });
    const dispatcher = new Agent();
    const api = API.factory('http://127.0.0.1:8443/', { dispatcher });
    assert.equal(api.endpoint, 'http://127.0.0.1:8443');
    assert.equal(api.dispatcher, dispatcher);
  });

  test('close() releases the connections factory() made, and leaves an injected dispatcher to its owner', async () => {
    const built = API.factory(server.socketPath);
    await built.get('');
    await built.close();
    assert.equal((built.dispatcher as Agent).closed, true);
    await assert.rejects(built.get(''), {
      name: 'APIConnectionError',
      code: 'UND_ERR_DESTROYED',
      hint: 'this API was closed (api.close()): make a new one',
    });

    const dispatcher = new Agent({ connect: { socketPath: server.socketPath } });
    const injected = API.factory(server.socketPath, { dispatcher });
    await injected.close();
    assert.equal(dispatcher.closed, false);
    assert.equal((await injected.get('')).status, 200);
    await dispatcher.close();
  });

  test('resolves every default once', () => {
    const api = API.factory(server.socketPath);
    assert.equal(api.defaultVersion, '1.0');
    assert.equal(api.waitTimeout, 30);
    assert.equal(api.project, undefined);
    assert.equal(api.userAgent, `lxdapi/${VERSION}`);
    const custom = API.factory(server.socketPath, {
      defaultVersion: '2.0',
      waitTimeout: 5,
      project: 'p1',
      userAgent: 'robot/1',
    });
    assert.deepEqual(
      [custom.defaultVersion, custom.waitTimeout, custom.project, custom.userAgent],
      ['2.0', 5, 'p1', 'robot/1'],
    );
  });
});

describe('new API() and formatUrl()', () => {
  const api = new API(new Agent(), 'http+unix://%2Fvar%2Flib%2Flxd%2Funix.socket/');

  test('only assigns, trimming a trailing slash', () => {
    assert.equal(api.endpoint, 'http+unix://%2Fvar%2Flib%2Flxd%2Funix.socket');
    assert.equal(api.socketPath, '/var/lib/lxd/unix.socket');
  });

  test('puts relative urls under the default version and keeps absolute paths', () => {
    assert.equal(api.formatUrl('instances'), 'http+unix://%2Fvar%2Flib%2Flxd%2Funix.socket/1.0/instances');
    assert.equal(
      api.formatUrl('/1.0/operations/abc/wait?timeout=30'),
      'http+unix://%2Fvar%2Flib%2Flxd%2Funix.socket/1.0/operations/abc/wait?timeout=30',
    );
    assert.equal(api.formatUrl('/'), 'http+unix://%2Fvar%2Flib%2Flxd%2Funix.socket/');
  });
});
