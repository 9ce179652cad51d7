// The small pure pieces under the API, each on its own: paths and queries, body encoding,
// validation, the member pool, and the error classes.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { Agent } from 'undici';
import { bodyForAttempt, encodeBody } from '../src/body.ts';
import {
  API,
  APIConnectionError,
  APIException,
  APINotFoundException,
  APIResult,
  LXDError,
  OperationGoneError,
  OperationNotCancellableError,
  OperationTimeoutError,
  RemoteConfigError,
  unixEndpoint,
} from '../src/index.ts';
import { createLogger } from '../src/log.ts';
import { MemberPool } from '../src/pool.ts';
import { checkMethod, operationPath, requestPath, withQuery } from '../src/url.ts';
import { failureOf, metadataError } from '../src/validate.ts';

const plain = { defaultVersion: '1.0', project: undefined, target: undefined };
const endpoint = 'https://lxd.example:8443';

describe('url.ts', () => {
  test('requestPath() resolves relative, absolute and full urls and merges the query', () => {
    assert.equal(requestPath(endpoint, plain, ''), '/1.0');
    assert.equal(requestPath(endpoint, plain, 'instances'), '/1.0/instances');
    assert.equal(requestPath(endpoint, plain, '/os/1.0'), '/os/1.0');
    assert.equal(requestPath(endpoint, plain, `${endpoint}/1.0/instances?recursion=1`), '/1.0/instances?recursion=1');
    assert.equal(
      requestPath(endpoint, plain, 'instances?recursion=1', { filter: 'name eq c1' }),
      '/1.0/instances?recursion=1&filter=name+eq+c1',
    );
    assert.equal(
      requestPath(endpoint, plain, 'instances', { recursion: 2, all: true, skip: undefined }),
      '/1.0/instances?recursion=2&all=true',
    );
    assert.equal(requestPath(endpoint, plain, 'instances', { target: 'a' }, 'b'), '/1.0/instances?target=b');
  });

  test('requestPath() adds the API project and target where the url and the request name none', () => {
    const base = { defaultVersion: '1.0', project: 'p1', target: 'm1' };
    assert.equal(requestPath(endpoint, base, 'instances'), '/1.0/instances?project=p1&target=m1');
    assert.equal(
      requestPath(endpoint, base, 'instances?project=p2', undefined, 'm2'),
      '/1.0/instances?project=p2&target=m2',
    );
  });

  test('requestPath() refuses dot segments, other hosts and non-scalar query values', () => {
    assert.throws(() => requestPath(endpoint, plain, 'instances/../certificates'), {
      name: 'TypeError',
      message: "instances/../certificates: '.' and '..' segments are not allowed in a url",
    });
    assert.throws(() => requestPath(endpoint, plain, '/1.0/%2E%2e/x'), { name: 'TypeError' });
    assert.throws(() => requestPath(endpoint, plain, 'https://other:8443/1.0?secret=s3'), {
      name: 'TypeError',
      message: `https://other:8443/1.0?secret=<redacted> is not on this API's endpoint ${endpoint}`,
    });
    assert.throws(() => requestPath(endpoint, plain, 'x', { bad: null as never }), {
      name: 'TypeError',
      message: 'query parameter bad must be a string, number or boolean, got null',
    });
    assert.throws(() => requestPath(endpoint, plain, 42 as never), { message: 'url must be a string, got number' });
  });

  test('operationPath() keeps the operation url query and adds parameters', () => {
    assert.equal(operationPath('/1.0/operations/x', '/wait'), '/1.0/operations/x/wait');
    assert.equal(
      operationPath('/1.0/operations/x?project=p', '/wait', { timeout: 3 }),
      '/1.0/operations/x/wait?project=p&timeout=3',
    );
    assert.equal(
      operationPath('/1.0/operations/x', '/websocket', { secret: 'a b' }),
      '/1.0/operations/x/websocket?secret=a+b',
    );
  });

  test('withQuery() and checkMethod()', () => {
    assert.equal(withQuery('/p', ''), '/p');
    assert.equal(withQuery('/p', 'a=1', { a: 2 }, { a: 3, b: 'x' }), '/p?a=2&b=x');
    assert.equal(checkMethod('get'), 'GET');
    assert.throws(() => checkMethod('FETCH'), {
      name: 'TypeError',
      message: 'unknown HTTP method FETCH; use one of GET, HEAD, POST, PUT, PATCH, DELETE',
    });
  });
});

describe('body.ts', () => {
  test('encodeBody() sets the user agent, lower-cases headers, serialises json', () => {
    const { headers, payload } = encodeBody({ json: { a: 1 }, headers: { 'X-Thing': 'y' }, ifMatch: 'e1' }, 'ua/1');
    assert.deepEqual(headers, {
      'user-agent': 'ua/1',
      'x-thing': 'y',
      'if-match': 'e1',
      'content-type': 'application/json',
    });
    assert.equal(payload, '{"a":1}');
    const raw = encodeBody({ body: 'bytes', headers: { 'Content-Type': 'text/plain' } }, 'ua');
    assert.deepEqual(raw, { headers: { 'user-agent': 'ua', 'content-type': 'text/plain' }, payload: 'bytes' });
  });

  test('encodeBody() turns an async iterable into a stream and refuses what it cannot send', async () => {
    const { payload } = encodeBody(
      {
        body: (async function* () {
          yield Buffer.from('ab');
        })(),
      },
      'ua',
    );
    assert.ok(payload instanceof Readable);
    assert.deepEqual(await payload.toArray(), [Buffer.from('ab')]);
    assert.throws(() => encodeBody({ json: 1, body: 'x' }, 'ua'), {
      name: 'TypeError',
      message: 'pass either json or body, not both',
    });
    assert.throws(() => encodeBody({ json: 1n }, 'ua'), {
      name: 'TypeError',
      message: /^the json option is not serialisable as JSON: /,
    });
    assert.throws(() => encodeBody({ json: () => 1 }, 'ua'), {
      message: 'the json option is not serialisable as JSON: got function',
    });
    assert.throws(() => encodeBody({ body: 5 as never }, 'ua'), {
      message: 'the body option must be a string, Uint8Array, Readable or AsyncIterable',
    });
  });

  test('bodyForAttempt() hands a stream over unread while another member may follow', async () => {
    const source = Readable.from([Buffer.from('x')]);
    const wrapped = bodyForAttempt(source, false);
    assert.notEqual(wrapped, source);
    wrapped && (wrapped as Readable).destroy();
    assert.equal(source.destroyed, false);
    assert.equal(bodyForAttempt(source, true), source);
    assert.equal(bodyForAttempt(undefined, false), null);
  });
});

describe('validate.ts', () => {
  const answer = { status: 200, data: undefined, body: undefined, problem: undefined };
  test('failureOf() reads the server words, else the body, else the problem', () => {
    assert.equal(failureOf(answer), undefined);
    assert.deepEqual(failureOf({ ...answer, status: 500, data: { type: 'error', error: 'boom' } }), { text: 'boom' });
    assert.deepEqual(failureOf({ ...answer, status: 502, body: Buffer.from('<h1>Bad\n gateway</h1>') }), {
      text: '<h1>Bad gateway</h1>',
    });
    assert.deepEqual(failureOf({ ...answer, status: 500 }), { text: 'HTTP 500 with an empty body' });
    const cause = new Error('x');
    assert.deepEqual(failureOf({ ...answer, problem: { message: 'not JSON', cause } }), { text: 'not JSON', cause });
    const failed = { type: 'sync', metadata: { status_code: 400, err: 'forkstart failed' } };
    assert.deepEqual(failureOf({ ...answer, data: failed }), { text: 'forkstart failed' });
  });

  test('metadataError() walks the chain and falls back to the JSON, secrets redacted', () => {
    assert.equal(metadataError({ metadata: { status_code: 200, metadata: { status_code: 103 } } }), undefined);
    assert.equal(
      metadataError({ metadata: { status_code: 401, secret: 's3' } }),
      '{"metadata":{"status_code":401,"secret":"<redacted>"}}',
    );
  });
});

describe('pool.ts', () => {
  const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  const quiet = createLogger(false);

  test('tries members in turn while nothing was sent, and prefers the one that answered', async () => {
    const pool = new MemberPool(['a', 'b', 'c']);
    const tried: string[] = [];
    const answer = await pool.each(
      async (member, last) => {
        tried.push(`${member}${last ? '!' : ''}`);
        if (member !== 'b') throw refused();
        return member;
      },
      () => true,
      quiet,
    );
    assert.equal(answer, 'b');
    assert.deepEqual(tried, ['a', 'b']);
    assert.equal(pool.current, 'b');
    tried.length = 0;
    await assert.rejects(
      pool.each(
        async (member, last) => {
          tried.push(`${member}${last ? '!' : ''}`);
          throw refused();
        },
        () => true,
        quiet,
      ),
      {
        code: 'ECONNREFUSED',
      },
    );
    assert.deepEqual(tried, ['b', 'c', 'a!']);
    assert.equal(pool.current, 'b');
  });

  test('a failure after sending, or one the caller forbids retrying, is thrown at once', async () => {
    const pool = new MemberPool(['a', 'b']);
    let calls = 0;
    const reset = Object.assign(new Error('socket hang up'), { code: 'UND_ERR_SOCKET' });
    await assert.rejects(
      pool.each(
        async () => {
          calls++;
          throw reset;
        },
        () => true,
        quiet,
      ),
      reset,
    );
    await assert.rejects(
      pool.each(
        async () => {
          calls++;
          throw refused();
        },
        () => false,
        quiet,
      ),
      { code: 'ECONNREFUSED' },
    );
    assert.equal(calls, 2);
  });
});

describe('errors.ts', () => {
  const result = new APIResult({ endpoint: 'e' } as never, {
    request: { method: 'GET', url: 'https://h/1.0/operations/x/websocket?secret=s3', headers: {} },
    response: { status: 404, headers: {} },
  });

  test('every error of the library is an LXDError with a code and the request it is about', () => {
    const cause = new Error('under');
    const errors: Array<[LXDError, string, string | undefined]> = [
      [new APIException('m', result, { cause }), 'ERR_LXD_API', 'GET'],
      [new APINotFoundException('m', result), 'ERR_LXD_NOT_FOUND', 'GET'],
      [new OperationGoneError('m', result), 'ERR_LXD_OPERATION_GONE', 'GET'],
      [new APIConnectionError('m', { endpoint: 'e', code: 'ECONNREFUSED', hint: 'h' }), 'ECONNREFUSED', undefined],
      [new OperationTimeoutError('/1.0/operations/x', 3, undefined), 'ERR_LXD_OPERATION_TIMEOUT', 'GET'],
      [new OperationNotCancellableError('/1.0/operations/x', undefined), 'ERR_LXD_NOT_CANCELLABLE', 'DELETE'],
      [new RemoteConfigError('m', 'ERR_LXD_REMOTE_UNKNOWN'), 'ERR_LXD_REMOTE_UNKNOWN', undefined],
    ];
    for (const [error, code, method] of errors) {
      assert.ok(error instanceof LXDError && error instanceof Error, error.name);
      assert.equal(error.code, code);
      assert.equal(error.request?.method, method);
    }
    assert.equal(errors[0]?.[0].cause, cause);
    assert.equal(errors[0]?.[0].request?.url, 'https://h/1.0/operations/x/websocket?secret=<redacted>');
    assert.equal(errors[4]?.[0].request?.url, '/1.0/operations/x/wait');
  });

  test('a connection error names its request, secrets redacted', async () => {
    const socketPath = '/nonexistent/lxdapi.socket';
    const api = new API(new Agent({ connect: { socketPath } }), unixEndpoint(socketPath));
    try {
      await assert.rejects(api.get('operations/x/websocket?secret=s3'), {
        name: 'APIConnectionError',
        code: 'ENOENT',
        request: { method: 'GET', url: `${unixEndpoint(socketPath)}/1.0/operations/x/websocket?secret=<redacted>` },
      });
    } finally {
      await api.dispatcher.close();
    }
  });

  test('an APIException built from a partial result still works', () => {
    const error = new APIException('m', { status: 500 } as never);
    assert.equal(error.status, 500);
    assert.equal(error.request, undefined);
  });
});
