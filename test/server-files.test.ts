// api.server(), the extension check, and file push and pull, against a local server that answers
// as LXD 5.0 and as Incus 6.0 do.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { API, MissingExtensionError } from '../src/index.ts';
import { reply, sync, type TestServer, unixServer } from './helpers/server.ts';

const lxdDocument = {
  api_extensions: ['file_delete', 'file_symlinks'],
  api_status: 'stable',
  api_version: '1.0',
  auth: 'trusted',
  public: false,
  auth_methods: ['tls'],
  environment: { server: 'lxd', server_version: '5.0.2' },
};

describe('api.server()', () => {
  let server: TestServer;
  let reads = 0;
  let fail = false;
  before(async () => {
    server = await unixServer((req, res) => {
      if (req.url === '/1.0') {
        reads++;
        if (fail) return reply(res, 500, { type: 'error', error: 'boom', error_code: 500, metadata: null });
        return reply(res, 200, sync(lxdDocument));
      }
      if (req.url === '/1.0/instances/c1/exec') return reply(res, 500, { type: 'error', error: 'unexpected' });
      return reply(res, 404, { type: 'error', error: 'not found', error_code: 404 });
    });
  });
  after(() => server.close());

  test('reads GET /1.0 once, says which server and what it has', async () => {
    const api = API.factory(server.socketPath);
    try {
      const info = await api.server();
      assert.deepEqual(
        { kind: info.kind, version: info.version, apiVersion: info.apiVersion, trusted: info.trusted },
        { kind: 'lxd', version: '5.0.2', apiVersion: '1.0', trusted: true },
      );
      assert.equal(info.hasExtension('file_symlinks'), true);
      assert.equal(info.hasExtension('explicit_trust_token'), false);
      assert.equal(await api.server(), info);
      assert.equal(reads, 1);
      await api.server({ refresh: true });
      assert.equal(reads, 2);
    } finally {
      await api.close();
    }
  });

  test('a failed read is not kept', async () => {
    const api = API.factory(server.socketPath);
    try {
      fail = true;
      await assert.rejects(api.server(), { name: 'APIException', message: `GET ${api.endpoint}/1.0 boom` });
      fail = false;
      assert.equal((await api.server()).kind, 'lxd');
    } finally {
      fail = false;
      await api.close();
    }
  });

  test('exec with cwd on a server without container_exec_user_group_cwd sends nothing', async () => {
    const api = API.factory(server.socketPath);
    try {
      const error = await api.exec('c1', ['pwd'], { cwd: '/tmp' }).then(
        () => assert.fail('resolved'),
        (reason: unknown) => reason,
      );
      assert.ok(error instanceof MissingExtensionError);
      assert.equal(error.code, 'ERR_LXD_MISSING_EXTENSION');
      assert.equal(error.extension, 'container_exec_user_group_cwd');
      assert.equal(
        error.message,
        `exec with cwd, user or group needs the API extension container_exec_user_group_cwd, which lxd 5.0.2 at ${api.endpoint} does not have`,
      );
      assert.equal(server.seen.filter((seen) => seen.url.includes('/exec')).length, 0);
    } finally {
      await api.close();
    }
  });
});

describe('api.pushFile() and api.pullFile()', () => {
  let server: TestServer;
  const pushed: Array<Record<string, unknown>> = [];
  const served: string[] = [];
  before(async () => {
    server = await unixServer((req, res) => {
      const url = new URL(req.url ?? '', 'http://x');
      if (url.pathname === '/1.0') return reply(res, 200, sync({ ...lxdDocument, api_extensions: [] }));
      if (req.method === 'POST') {
        pushed.push({ path: url.searchParams.get('path'), body: req.body.toString(), ...req.headers });
        return reply(res, 200, sync({}));
      }
      const prefix = url.pathname.includes('/instances/incus-') ? 'X-Incus' : 'X-LXD';
      served.push(prefix);
      if (url.searchParams.get('path') === '/etc') {
        return reply(res, 200, sync(['hosts', 'passwd']), {
          [`${prefix}-type`]: 'directory',
          [`${prefix}-mode`]: '0755',
        });
      }
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        [`${prefix}-type`]: 'file',
        [`${prefix}-mode`]: '0640',
        [`${prefix}-uid`]: '1000',
        [`${prefix}-gid`]: '1001',
      });
      res.end('hello');
    });
  });
  after(() => server.close());

  test('a push sends the content and X-LXD-* headers, which LXD and Incus both take', async () => {
    const api = API.factory(server.socketPath);
    try {
      await api.pushFile('c1', '/root/a b', 'hello', { mode: 0o640, uid: 1000, gid: 1001 });
      await api.pushFile('c1', '/root/d', undefined, { type: 'directory', mode: 0o755 });
      assert.deepEqual(
        pushed.map((p) => [p.path, p.body, p['x-lxd-type'], p['x-lxd-mode'], p['x-lxd-uid'], p['x-lxd-gid']]),
        [
          ['/root/a b', 'hello', 'file', '0640', '1000', '1001'],
          ['/root/d', '', 'directory', '0755', undefined, undefined],
        ],
      );
      await assert.rejects(api.pushFile('c1', '/root/l', '/etc/hosts', { type: 'symlink' }), {
        name: 'MissingExtensionError',
        extension: 'file_symlinks',
      });
      assert.equal(pushed.length, 2);
    } finally {
      await api.close();
    }
  });

  test('a pull reads X-LXD-* (LXD) and X-Incus-* (Incus) alike', async () => {
    const api = API.factory(server.socketPath);
    try {
      for (const instance of ['lxd-c1', 'incus-c1']) {
        const file = await api.pullFile(instance, '/root/a');
        assert.deepEqual(
          [file.type, file.mode, file.uid, file.gid, Buffer.from(file.body ?? []).toString()],
          ['file', 0o640, 1000, 1001, 'hello'],
        );
        const dir = await api.pullFile(instance, '/etc');
        assert.deepEqual([dir.type, dir.mode, dir.entries], ['directory', 0o755, ['hosts', 'passwd']]);
      }
      assert.deepEqual(served, ['X-LXD', 'X-LXD', 'X-Incus', 'X-Incus']);
      const streamed = await api.pullFile('c1', '/root/a', { stream: true });
      assert.equal(streamed.body, undefined);
      assert.equal(Buffer.concat(await (streamed.stream?.toArray() ?? [])).toString(), 'hello');
    } finally {
      await api.close();
    }
  });
});
