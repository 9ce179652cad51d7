import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { API, APIException, APINotFoundException, type Operation, StatusCode } from '../src/index.ts';
import { accepted, failure, operation, reply, sync, type TestServer, unixServer } from './helpers/server.ts';

const FORKSTART =
  'Failed to run: /usr/bin/lxd forkstart c1 /var/lib/lxd/containers /var/log/lxd/c1/lxc.conf: exit status 1';

describe('validate()', () => {
  let server: TestServer;
  let api: API;
  before(async () => {
    server = await unixServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      switch (path) {
        case '/1.0/instances/missing':
          return reply(res, 404, failure(404, 'Instance not found'));
        case '/1.0/instances/busy/state':
          return reply(res, 500, failure(500, 'Failed to start: the instance is busy'));
        case '/1.0/no-error-text':
          return reply(res, 400, { type: 'error', error: '', error_code: 400, metadata: { err: 'nested reason' } });
        case '/1.0/bare-400':
          return reply(res, 400, {
            type: 'error',
            error: '',
            error_code: 400,
            metadata: { password: 'hunter2', detail: 'x' },
          });
        case '/1.0/operations/failed/wait':
          return reply(res, 200, sync(operation('failed', { status: 'Failure', status_code: 400, err: FORKSTART })));
        case '/1.0/operations/failed-quietly/wait':
          return reply(res, 200, sync(operation('failed-quietly', { status: 'Failure', status_code: 400, err: '' })));
        case '/1.0/deep': {
          const depth = 100_000;
          const metadata = `${'{"status_code":200,"metadata":'.repeat(depth)}{"status_code":401,"err":"deepest"}${'}'.repeat(depth)}`;
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(
            `{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":${metadata}}`,
          );
        }
        case '/1.0/instances':
          return reply(
            res,
            200,
            sync([
              { name: 'c1', status_code: StatusCode.Running },
              { name: 'c2', status_code: StatusCode.Error, metadata: { status_code: 500 } },
            ]),
          );
        case '/1.0/operations':
          return reply(res, 200, sync({ failure: [{ id: 'x', status_code: 400 }] }));
        case '/1.0/async':
          return accepted(res, operation('op-1'));
        default:
          return reply(res, 200, sync({ ok: true }));
      }
    });
    api = API.factory(server.socketPath);
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  test('404 rejects with APINotFoundException, a kind of APIException', async () => {
    const error = await api.get('instances/missing').catch((e: unknown) => e);
    assert.ok(error instanceof APINotFoundException);
    assert.ok(error instanceof APIException);
    assert.equal(error.name, 'APINotFoundException');
    assert.equal(error.code, 'ERR_LXD_NOT_FOUND');
    assert.equal(error.status, 404);
    assert.equal(error.message, `GET ${api.endpoint}/1.0/instances/missing Instance not found`);
    assert.equal(error.result.data?.type, 'error');
  });

  test('any other status >= 400 rejects with APIException carrying the server error', async () => {
    await assert.rejects(api.put('instances/busy/state', { json: { action: 'start', timeout: 30 } }), {
      name: 'APIException',
      code: 'ERR_LXD_API',
      status: 500,
      message: `PUT ${api.endpoint}/1.0/instances/busy/state Failed to start: the instance is busy`,
    });
  });

  test('an empty error falls back to metadata.err, then to the redacted response JSON', async () => {
    await assert.rejects(api.get('no-error-text'), { message: `GET ${api.endpoint}/1.0/no-error-text nested reason` });
    await assert.rejects(api.get('bare-400'), {
      message: `GET ${api.endpoint}/1.0/bare-400 {"type":"error","error":"","error_code":400,"metadata":{"password":"<redacted>","detail":"x"}}`,
    });
  });

  test('a failed operation behind HTTP 200 rejects through the nested check, with its err', async () => {
    const error = await api.get('/1.0/operations/failed/wait?timeout=30').catch((e: unknown) => e);
    assert.ok(error instanceof APIException);
    assert.equal(error.status, 200);
    assert.equal(error.message, `GET ${api.endpoint}/1.0/operations/failed/wait?timeout=30 ${FORKSTART}`);
    assert.equal((error.result.metadata as Operation).status_code, 400);
    await assert.rejects(api.get('/1.0/operations/failed-quietly/wait'), (e: APIException) => {
      assert.match(
        e.message,
        /^GET \S+\/1\.0\/operations\/failed-quietly\/wait \{"type":"sync",.*"status_code":400,"resources"/,
      );
      return true;
    });
  });

  test('follows the metadata chain only: lists holding failed objects are data, not failures', async () => {
    assert.equal((await api.get('instances')).status, 200);
    assert.equal((await api.get('operations')).status, 200);
  });

  test('walks 100,000 levels of nested metadata without overflowing the stack', async () => {
    await assert.rejects(api.get('deep'), { name: 'APIException', message: `GET ${api.endpoint}/1.0/deep deepest` });
  });

  test("a real LXD's empty error string on success is not a message", async () => {
    const result = await api.get<{ ok: boolean }>('fine');
    assert.equal(result.data?.type, 'sync');
    assert.deepEqual(result.metadata, { ok: true });
    result.validate();
    result.validateMetadata({ metadata: { status_code: 103, metadata: { status_code: 200 } } });
    assert.throws(() => result.validateMetadata({ metadata: { metadata: { status_code: 400, err: 'boom' } } }), {
      message: `GET ${api.endpoint}/1.0/fine boom`,
    });
  });

  test('an async response exposes its operation', async () => {
    const result = await api.post<Operation>('async', { json: {} });
    assert.equal(result.status, 202);
    assert.equal(result.operation, '/1.0/operations/op-1');
    assert.equal(result.metadata.status_code, StatusCode.Running);
    assert.equal(result.data?.type, 'async');
  });
});
