import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { API, APIConnectionError, APIException } from '../src/index.ts';
import { selfSigned } from './helpers/certs.ts';
import { type FaultServer, faultServer } from './helpers/faults.ts';

const here = import.meta.dirname;

/**
 * Why test/fixtures/connect.ts cannot run as user nobody, if it cannot: not root, or
 * node or the clone sit under a folder that others may not search (a clone in /root).
 */
function nobodyCannot(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to run a child as nobody';
  const fixture = join(here, 'fixtures', 'connect.ts');
  const probe = spawnSync(process.execPath, ['-e', 'require("node:fs").accessSync(process.argv[1], 4)', fixture], {
    uid: 65534,
    gid: 65534,
    timeout: 20_000,
  });
  if (probe.error || probe.status !== 0)
    return `user nobody cannot run ${process.execPath} on ${fixture}: a folder above one of them is not searchable by others`;
  return false;
}
const asNobody = nobodyCannot();

/** Runs test/fixtures/connect.ts as user nobody and returns the error it printed. */
function connectAsNobody(socketPath: string): unknown {
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'connect.ts'), socketPath], {
    uid: 65534,
    gid: 65534,
    encoding: 'utf8',
    cwd: join(here, '..'),
    timeout: 20_000,
  });
  assert.equal(child.stderr, '');
  return JSON.parse(child.stdout);
}

describe('a server that breaks, over a unix socket', () => {
  let server: FaultServer;
  let api: API;
  let at: (path: string) => string;
  before(async () => {
    server = await faultServer();
    api = API.factory(server.socketPath);
    at = (path) => `GET ${api.endpoint}/1.0/${path}`;
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  test('invalid JSON: APIException quoting the parser and the body', async () => {
    const error = await api.get('invalid-json').catch((e: unknown) => e);
    assert.ok(error instanceof APIException);
    assert.equal(error.status, 200);
    // The wording inside the parentheses is V8's own (Node 22 added "(line 1 column 28)"): only its place is the library's.
    assert.ok(error.cause instanceof SyntaxError);
    assert.match(error.cause.message, /\S/);
    assert.equal(
      error.message,
      `${at('invalid-json')} invalid JSON in the response (${error.cause.message}): {"type":"sync","metadata":{`,
    );
    assert.deepEqual(error.result.body, Buffer.from('{"type":"sync","metadata":{'));
  });

  test('a byte order mark and characters split across reads: decoded whole, with or without maxResponseBytes', async () => {
    const capped = API.factory(server.socketPath, { maxResponseBytes: 1024 });
    for (const client of [api, capped]) {
      const result = await client.get<{ name: string }>('bom-split-utf8');
      assert.deepEqual(result.data, { type: 'sync', status_code: 200, error: '', metadata: { name: 'café ☃' } });
      assert.equal(result.body, undefined);
    }
    await capped.close();
  });

  test('a body shorter than its Content-Length: APIConnectionError', async () => {
    await assert.rejects(api.get('short-body'), {
      name: 'APIConnectionError',
      code: 'UND_ERR_SOCKET',
      message: `${at('short-body')} failed: other side closed (socket ${server.socketPath} closed the connection before the response was complete)`,
    });
  });

  test('a connection dropped mid-body: APIConnectionError', async () => {
    await assert.rejects(api.get('reset-mid-body'), { name: 'APIConnectionError', code: 'UND_ERR_SOCKET' });
  });

  test('a server that never answers, or stalls the body: the timeout option ends it', async () => {
    for (const path of ['never-answers', 'stalled-body']) {
      const error = await api.get(path, { timeout: 300 }).catch((e: unknown) => e);
      assert.ok(error instanceof APIConnectionError);
      assert.equal(error.code, 'ERR_LXD_TIMEOUT');
      assert.equal(error.endpoint, api.endpoint);
      assert.equal(
        error.message,
        `${at(path)} failed: timed out after 300 ms (no complete answer before the timeout option expired)`,
      );
    }
    const withDefault = API.factory(server.socketPath, { timeout: 200 });
    await assert.rejects(withDefault.get('never-answers'), { code: 'ERR_LXD_TIMEOUT' });
    await withDefault.close();
  });

  test("a proxy's HTML 502: APIException with the start of the page", async () => {
    await assert.rejects(api.get('proxy-502'), {
      name: 'APIException',
      status: 502,
      message: `${at('proxy-502')} <html> <head><title>502 Bad Gateway</title></head> <body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>`,
    });
  });

  test('an empty body, null, or JSON that is no LXD envelope: APIException saying so', async () => {
    await assert.rejects(api.get('empty-200'), {
      name: 'APIException',
      message: `${at('empty-200')} empty response body where an LXD JSON envelope was expected`,
    });
    await assert.rejects(api.get('null-200'), {
      name: 'APIException',
      message: `${at('null-200')} the response is not an LXD envelope (no type sync, async or error): null`,
    });
    await assert.rejects(api.get('not-envelope'), {
      name: 'APIException',
      message: `${at('not-envelope')} the response is not an LXD envelope (no type sync, async or error): {"hello":"world"}`,
    });
  });

  test('a 202 without an operation: APIException, and wait() has nothing to wait for', async () => {
    await assert.rejects(api.get('async-without-operation'), {
      name: 'APIException',
      status: 202,
      message: `${at('async-without-operation')} async response without an operation URL`,
    });
    const plain = await api.get('ok');
    await assert.rejects(plain.wait(), {
      name: 'Error',
      message: `${at('ok')} returned a sync response with no operation to wait for`,
    });
  });

  test('50 MB of JSON is parsed; maxResponseBytes caps what is buffered', async () => {
    const big = await api.get<unknown[]>('big-json');
    assert.equal(big.metadata.length, 25764);
    const capped = API.factory(server.socketPath, { maxResponseBytes: 1024 * 1024 });
    await assert.rejects(capped.get('big-json'), {
      name: 'APIException',
      message: `GET ${capped.endpoint}/1.0/big-json response larger than maxResponseBytes (1048576 bytes); use stream: true for large downloads`,
    });
    assert.equal((await capped.get<{ ok: boolean }>('ok')).metadata.ok, true);
    await capped.close();
  });

  test('metadata nested 100,000 levels deep: validated without a stack overflow', async () => {
    await assert.rejects(api.get('deep-json'), {
      name: 'APIException',
      message: `${at('deep-json')} failed at the bottom`,
    });
  });

  test('an aborted request rejects with the signal reason, as fetch does', async () => {
    const controller = new AbortController();
    const pending = api.get('never-answers', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending, { name: 'AbortError' });
    const reason = new Error('stop now');
    await assert.rejects(api.get('ok', { signal: AbortSignal.abort(reason) }), reason);
  });
});

describe('bad arguments: a TypeError before any traffic', () => {
  let server: FaultServer;
  let api: API;
  before(async () => {
    server = await faultServer();
    api = API.factory(server.socketPath);
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  const circular: Record<string, unknown> = {};
  circular.self = circular;
  // The message exactly, or (V8's own text for a circular structure) its start; read once the API exists.
  const cases: Array<[string, () => Promise<unknown>, () => string | RegExp]> = [
    [
      'json that is not serialisable',
      () => api.post('ok', { json: { n: 1n } }),
      () => 'the json option is not serialisable as JSON: Do not know how to serialize a BigInt',
    ],
    [
      'circular json',
      () => api.post('ok', { json: circular }),
      () => /^the json option is not serialisable as JSON: Converting circular structure to JSON/,
    ],
    ['both json and body', () => api.post('ok', { json: {}, body: 'x' }), () => 'pass either json or body, not both'],
    [
      'an unknown method',
      () => api.request('BREW', 'ok'),
      () => 'unknown HTTP method BREW; use one of GET, HEAD, POST, PUT, PATCH, DELETE',
    ],
    [
      'a relative url with ..',
      () => api.get('instances/../../etc/passwd'),
      () => "instances/../../etc/passwd: '.' and '..' segments are not allowed in a url",
    ],
    [
      'an encoded ..',
      () => api.get('/1.0/%2e%2e/x'),
      () => "/1.0/%2e%2e/x: '.' and '..' segments are not allowed in a url",
    ],
    [
      'a full URL to another host',
      () => api.get('https://evil.example/1.0?secret=s3cr3t'),
      () => `https://evil.example/1.0?secret=<redacted> is not on this API's endpoint ${api.endpoint}`,
    ],
    [
      'an object as a query value',
      () => api.get('ok', { query: { filter: { name: 'x' } as unknown as string } }),
      () => 'query parameter filter must be a string, number or boolean, got object',
    ],
    [
      'null as a query value',
      () => api.get('ok', { query: { filter: null as unknown as string } }),
      () => 'query parameter filter must be a string, number or boolean, got null',
    ],
    [
      'a body of the wrong type',
      () => api.post('ok', { body: 42 as unknown as string }),
      () => 'the body option must be a string, Uint8Array, Readable or AsyncIterable',
    ],
  ];
  for (const [name, call, expected] of cases) {
    test(name, async () => {
      const error = await call().catch((e: unknown) => e);
      assert.ok(error instanceof TypeError, `${name}: ${String(error)}`);
      const message = expected();
      if (message instanceof RegExp) assert.match(error.message, message);
      else assert.equal(error.message, message);
      assert.equal(server.open(), 0);
    });
  }
});

describe('sockets that cannot be used', () => {
  test('a socket removed after factory(): ENOENT with a hint', async () => {
    const server = await faultServer();
    const api = API.factory(server.socketPath);
    await server.close();
    await assert.rejects(api.get('ok'), {
      name: 'APIConnectionError',
      code: 'ENOENT',
      message: `GET ${api.endpoint}/1.0/ok failed: connect ENOENT ${server.socketPath} (socket ${server.socketPath} does not exist: is LXD or Incus running? Set LXD_SOCKET or INCUS_SOCKET (or LXD_DIR, INCUS_DIR), or pass the socket path)`,
    });
    await api.close();
  });

  test('a socket nobody listens on: ECONNREFUSED with a hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lxdapi-refused-'));
    const path = join(dir, 'unix.socket');
    // A bound socket that never listens leaves the file behind, as a crashed daemon does.
    execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path)})`]);
    const api = API.factory(path);
    try {
      await assert.rejects(api.get('ok'), {
        name: 'APIConnectionError',
        code: 'ECONNREFUSED',
        message: `GET ${api.endpoint}/1.0/ok failed: connect ECONNREFUSED ${path} (nothing listens on socket ${path}: is LXD or Incus running?)`,
      });
    } finally {
      await api.close();
      rmSync(dir, { recursive: true });
    }
  });

  test('a socket this user may not open: EACCES, asking about the lxd group', { skip: asNobody }, async () => {
    const server = await faultServer();
    chmodSync(join(server.socketPath, '..'), 0o755);
    chmodSync(server.socketPath, 0o600);
    try {
      assert.deepEqual(connectAsNobody(server.socketPath), {
        name: 'APIConnectionError',
        code: 'EACCES',
        message: `GET ${API.factory(server.socketPath).endpoint}/1.0/ok failed: connect EACCES ${server.socketPath} (permission denied on socket ${server.socketPath}: is this user in the lxd group, or incus-admin for Incus?)`,
      });
    } finally {
      await server.close();
    }
  });
});

test('a child process that meets every fault exits by itself: no live socket, timer or unhandled rejection', () => {
  const started = Date.now();
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'all-faults.ts')], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(child.signal, null, `killed after ${Date.now() - started} ms: ${child.stderr}`);
  assert.equal(child.stderr, '');
  assert.equal(child.status, 0);
  const lines = child.stdout.trim().split('\n');
  assert.deepEqual(lines, [
    'invalid-json APIException',
    'bom-split-utf8 ok',
    'short-body APIConnectionError UND_ERR_SOCKET',
    'reset-mid-body APIConnectionError UND_ERR_SOCKET',
    'never-answers APIConnectionError ERR_LXD_TIMEOUT',
    'stalled-body APIConnectionError ERR_LXD_TIMEOUT',
    'proxy-502 APIException',
    'empty-200 APIException',
    'null-200 APIException',
    'not-envelope APIException',
    'big-json ok',
    'deep-json APIException',
    'async-without-operation APIException',
    'ok ok',
    'aborted AbortError',
  ]);
});

test('a socket in a folder this user may not search: factory() says permission denied, not missing', {
  skip: asNobody,
}, async () => {
  const server = await faultServer();
  chmodSync(join(server.socketPath, '..'), 0o700);
  try {
    assert.deepEqual(connectAsNobody(server.socketPath), {
      name: 'APIConnectionError',
      code: 'EACCES',
      message: `Socket ${server.socketPath} is not accessible (permission denied: is this user in the lxd group, or incus-admin for Incus?)`,
    });
  } finally {
    await server.close();
  }
});

describe('the same faults over TLS, with a pinned certificate', () => {
  const pair = selfSigned('lxd-faults', ['IP:127.0.0.1']);
  let server: FaultServer;
  let api: API;
  before(async () => {
    server = await faultServer(pair);
    api = API.factory(server.url.replace('127.0.0.1', 'localhost'), {
      serverCert: pair.cert,
      cert: pair.cert,
      key: pair.key,
    });
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  const expected: Array<[string, string, string]> = [
    ['invalid-json', 'APIException', 'ERR_LXD_API'],
    ['short-body', 'APIConnectionError', 'UND_ERR_SOCKET'],
    ['reset-mid-body', 'APIConnectionError', 'ECONNRESET'],
    ['never-answers', 'APIConnectionError', 'ERR_LXD_TIMEOUT'],
    ['stalled-body', 'APIConnectionError', 'ERR_LXD_TIMEOUT'],
    ['proxy-502', 'APIException', 'ERR_LXD_API'],
    ['empty-200', 'APIException', 'ERR_LXD_API'],
    ['null-200', 'APIException', 'ERR_LXD_API'],
    ['not-envelope', 'APIException', 'ERR_LXD_API'],
    ['deep-json', 'APIException', 'ERR_LXD_API'],
    ['async-without-operation', 'APIException', 'ERR_LXD_API'],
  ];
  for (const [path, name, code] of expected) {
    test(`${path}: ${name} ${code}`, async () => {
      // A short deadline only where the server stalls: a busy machine may take longer than that for a TLS handshake.
      const stalls = path === 'never-answers' || path === 'stalled-body';
      const error = await api.get(path, { timeout: stalls ? 500 : 30_000 }).catch((e: unknown) => e);
      const seen = error as { name: string; code: string; message: string };
      // A TCP reset mid-body may reach undici as the reset itself or as the close that follows it.
      const codes = code === 'ECONNRESET' ? ['ECONNRESET', 'UND_ERR_SOCKET'] : [code];
      assert.equal(seen.name, name, seen.message);
      assert.ok(codes.includes(seen.code), `${seen.code}: ${seen.message}`);
      assert.ok(seen.message.startsWith(`GET ${api.endpoint}/1.0/${path} `), seen.message);
    });
  }

  test('50 MB of JSON arrives whole over TLS', async () => {
    assert.equal((await api.get<unknown[]>('big-json')).metadata.length, 25764);
  });
});
