import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { API, type Operation, StatusCode } from '../src/index.ts';
import { accepted, operation, reply, sync, type TestServer, unixServer } from './helpers/server.ts';

describe('wait()', () => {
  let server: TestServer;
  let api: API;
  let impatient: Agent;
  before(async () => {
    server = await unixServer((req, res) => {
      const url = new URL(req.url ?? '', 'http://lxd');
      const timeout = Number(url.searchParams.get('timeout'));
      if (url.pathname === '/1.0/instances') return accepted(res, operation('op-create'));
      if (url.pathname === '/1.0/instances/c1/state') return accepted(res, operation('op-start'));
      if (url.pathname === '/1.0/operations/op-create/wait') {
        // As a real LXD: hold the request for the timeout, then answer 200 with the operation still running.
        return setTimeout(() => reply(res, 200, sync(operation('op-create'))), Math.max(timeout, 0) * 100);
      }
      if (url.pathname === '/1.0/operations/op-start/wait') {
        return reply(
          res,
          200,
          sync(
            operation('op-start', {
              status: 'Failure',
              status_code: 400,
              err: 'Failed to run: forkstart: exit status 1',
            }),
          ),
        );
      }
      if (url.pathname === '/1.0/operations/op-project/wait')
        return reply(res, 200, sync(operation('op-project', { status: 'Success', status_code: 200 })));
      if (url.pathname === '/1.0/slow/wait')
        return setTimeout(() => reply(res, 200, sync(operation('slow', { status_code: 200 }))), 2500);
      return reply(res, 404, { type: 'error', error: 'not found', error_code: 404, metadata: null });
    });
    // headersTimeout 300 ms (undici's timers fire within about 1 s): far shorter than the polls below, to prove they raise it.
    impatient = new Agent({ connect: { socketPath: server.socketPath }, headersTimeout: 300, bodyTimeout: 300 });
    api = API.factory(server.socketPath, { dispatcher: impatient });
  });
  after(async () => {
    await impatient.close();
    await server.close();
  });

  test("post(...).wait() long-polls the operation with the API's waitTimeout", async () => {
    const result = await api
      .post('instances', { json: { name: 'c1', source: { type: 'image', alias: 'busybox' } } })
      .wait();
    assert.equal(server.seen.at(-1)?.url, '/1.0/operations/op-create/wait?timeout=30');
    assert.equal(result.status, 200);
    assert.equal(result.metadata.status_code, StatusCode.Running);
    assert.equal(result.metadata.id, 'op-create');
  });

  test('post(...).wait() takes options; detached from its promise, wait() says how to call it', async () => {
    const pending = api.post('instances', { json: { name: 'c1' } });
    const result = await pending.wait({ timeout: 2 });
    assert.equal(server.seen.at(-1)?.url, '/1.0/operations/op-create/wait?timeout=2');
    assert.equal(result.metadata.id, 'op-create');
    const { wait } = pending;
    assert.throws(() => wait(), {
      name: 'TypeError',
      message: 'wait() is a method of the request promise: call it as api.post(...).wait()',
    });
  });

  test('a timeout that runs out with the operation running returns 103 and does not throw', async () => {
    const created = await api.post<Operation>('instances', { json: { name: 'c1' } });
    const result = await created.wait({ timeout: 1 });
    assert.equal(server.seen.at(-1)?.url, '/1.0/operations/op-create/wait?timeout=1');
    assert.equal(result.metadata.status_code, 103);
  });

  test("a failed operation rejects with the operation's err", async () => {
    await assert.rejects(api.put('instances/c1/state', { json: { action: 'start' } }).wait(), {
      name: 'APIException',
      status: 200,
      message: `GET ${api.endpoint}/1.0/operations/op-start/wait?timeout=30 Failed to run: forkstart: exit status 1`,
    });
  });

  test("the HTTP timeouts follow the server-side one: undici's header timeout never cuts a long poll", async () => {
    const held = await api.get<Operation>('/1.0/operations/op-create/wait', {
      query: { timeout: 5 },
      serverTimeout: 5,
    });
    assert.equal(held.metadata.status_code, 103);
    await assert.rejects(api.get('/1.0/slow/wait'), { name: 'APIConnectionError', code: 'UND_ERR_HEADERS_TIMEOUT' });
  });

  test('timeout: -1 waits without limit', async () => {
    const result = await api.get<Operation>('/1.0/slow/wait', { serverTimeout: -1 });
    assert.equal(result.metadata.status_code, 200);
    const viaWait = await new API(impatient, api.endpoint, {}).post('instances', { json: {} }).wait({ timeout: -1 });
    assert.equal(server.seen.at(-1)?.url, '/1.0/operations/op-create/wait?timeout=-1');
    assert.equal(viaWait.metadata.status_code, 103);
  });

  test('an operation url that carries a query keeps it, with the timeout merged in', async () => {
    const scoped = API.factory(server.socketPath, { dispatcher: impatient, project: 'p1', waitTimeout: 2 });
    const started = await scoped.post('instances', { json: {} });
    Object.defineProperty(started, 'operation', { value: '/1.0/operations/op-project?project=p1' });
    const result = await started.wait();
    assert.equal(server.seen.at(-1)?.url, '/1.0/operations/op-project/wait?project=p1&timeout=2');
    assert.equal(result.metadata.status_code, 200);
  });

  test('an aborted wait rejects with the signal reason', async () => {
    const created = await api.post('instances', { json: {} });
    const reason = new Error('user gave up');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(created.wait({ timeout: 20, signal: controller.signal }), reason);
  });
});
