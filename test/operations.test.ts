import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  API,
  APIException,
  APINotFoundException,
  type Operation,
  OperationGoneError,
  OperationNotCancellableError,
  OperationTimeoutError,
  operationProgress,
} from '../src/index.ts';
import { runTsx } from './helpers/child.ts';
import { accepted, failure, operation, reply, sync, type TestServer, unixServer } from './helpers/server.ts';

describe('waitUntilDone() and cancel()', () => {
  let server: TestServer;
  let api: API;
  // How many /wait requests each operation has had.
  const polls = new Map<string, number>();
  const progress = [
    { stage: 'unpack', percent: '10' },
    { stage: 'unpack', percent: '10' },
    { stage: 'unpack', percent: '60' },
  ];

  // How each held /wait of an operation ended: answered at its timeout, or cut by the client before.
  const ends = new Map<string, Array<Promise<'answered' | 'cut'>>>();
  const endsOf = (id: string) => ends.get(id) ?? [];

  /** Answers like LXD's `/wait`: at once when done, else when its `timeout` (seconds) runs out. */
  const hold = (id: string, res: ServerResponse, seconds: number, body: unknown) => {
    const ended = new Promise<'answered' | 'cut'>((resolve) => {
      const timer = setTimeout(() => {
        reply(res, 200, body);
        resolve('answered');
      }, Math.max(seconds, 0) * 1000);
      res.on('close', () => {
        clearTimeout(timer);
        resolve('cut');
      });
    });
    ends.set(id, [...endsOf(id), ended]);
  };

  before(async () => {
    server = await unixServer((req, res) => {
      const url = new URL(req.url ?? '', 'http://lxd');
      const timeout = Number(url.searchParams.get('timeout'));
      const id = /^\/1\.0\/(?:operations|start)\/([^/]+)/.exec(url.pathname)?.[1] ?? '';
      if (req.method === 'POST' && url.pathname === '/1.0/start/op-finished')
        return accepted(res, operation(id, { may_cancel: true }));
      if (req.method === 'POST' && url.pathname.startsWith('/1.0/start/')) {
        return accepted(res, operation(id, id === 'op-cancellable' ? { may_cancel: true } : {}));
      }
      if (req.method === 'GET' && url.pathname === '/1.0/operations/op-finished') {
        return reply(res, 200, sync(operation('op-finished', { status: 'Success', status_code: 200 })));
      }
      if (req.method === 'DELETE' && url.pathname === '/1.0/operations/op-cancellable')
        return reply(res, 200, sync(null));
      if (req.method === 'GET' && url.pathname === '/1.0/operations/op-cancellable') {
        return reply(res, 200, sync(operation('op-cancellable', { may_cancel: true, status: 'Cancelling' })));
      }
      if (!url.pathname.endsWith('/wait')) return reply(res, 404, failure(404, 'not found'));
      const count = (polls.get(id) ?? 0) + 1;
      polls.set(id, count);
      switch (id) {
        case 'op-long':
          // Running twice (each poll held for its full timeout), then done.
          if (count <= 2) return hold(id, res, timeout, sync(operation(id)));
          return reply(res, 200, sync(operation(id, { status: 'Success', status_code: 200 })));
        case 'op-forever':
          return hold(id, res, timeout, sync(operation(id)));
        case 'op-progress': {
          // A short poll each time (the progress interval), with the progress LXD reports; done on the fourth.
          const step = progress[count - 1];
          if (step) return setTimeout(() => reply(res, 200, sync(operation(id, { metadata: { progress: step } }))), 20);
          return reply(
            res,
            200,
            sync(
              operation(id, {
                status: 'Success',
                status_code: 200,
                metadata: { progress: { stage: 'unpack', percent: '100' } },
              }),
            ),
          );
        }
        case 'op-failed':
          return reply(
            res,
            200,
            sync(
              operation(id, {
                status: 'Failure',
                status_code: 400,
                err: 'Failed creating instance record: Instance "c1" already exists',
              }),
            ),
          );
        case 'op-gone':
          return reply(res, 404, failure(404, 'Operation not found'));
        default:
          return reply(res, 404, failure(404, 'not found'));
      }
    });
    api = API.factory(server.socketPath, { waitTimeout: 1 });
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  const start = (id: string) => api.post<Operation>(`/1.0/start/${id}`, { json: {} });
  const waits = (id: string) =>
    server.seen.filter((seen) => seen.url.startsWith(`/1.0/operations/${id}/wait`)).map((seen) => seen.url);

  test('keeps long-polling while status_code < 200, one poll at a time, and resolves with the final /wait', async () => {
    const started = performance.now();
    const done = await (await start('op-long')).waitUntilDone();
    const elapsed = performance.now() - started;
    assert.equal(done.status, 200);
    assert.equal(done.metadata.status_code, 200);
    assert.equal(done.metadata.status, 'Success');
    assert.deepEqual(waits('op-long'), [
      '/1.0/operations/op-long/wait?timeout=1',
      '/1.0/operations/op-long/wait?timeout=1',
      '/1.0/operations/op-long/wait?timeout=1',
    ]);
    // Two polls held for their full second each, then the answer.
    assert.ok(elapsed >= 1900 && elapsed < 4000, `took ${elapsed} ms`);
  });

  test('one overall deadline across polls: OperationTimeoutError with the operation, seconds and last state', async () => {
    const result = await start('op-forever');
    const held = endsOf('op-forever').length;
    const started = performance.now();
    await assert.rejects(result.waitUntilDone({ timeout: 2.5 }), (error: unknown) => {
      assert.ok(error instanceof OperationTimeoutError);
      assert.equal(error.name, 'OperationTimeoutError');
      assert.equal(error.code, 'ERR_LXD_OPERATION_TIMEOUT');
      assert.equal(
        error.message,
        'operation /1.0/operations/op-forever (Creating instance, still Running 103) did not finish within 2.5 s',
      );
      assert.equal(error.operation, '/1.0/operations/op-forever');
      assert.equal(error.waited, 2.5);
      assert.equal(error.last?.id, 'op-forever');
      assert.equal(error.last?.status_code, 103);
      return true;
    });
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 2400, `took ${elapsed} ms`);
    assert.deepEqual(waits('op-forever'), Array(3).fill('/1.0/operations/op-forever/wait?timeout=1'));
    // Held 1 s, 1 s, then cut by the overall deadline, not answered at the end of a third full poll.
    assert.deepEqual(await Promise.all(endsOf('op-forever').slice(held)), ['answered', 'answered', 'cut']);
  });

  test('a deadline shorter than the wait timeout shortens the poll itself', async () => {
    const result = await start('op-forever');
    const before = waits('op-forever').length;
    await assert.rejects(result.waitUntilDone({ timeout: 0.2 }), { name: 'OperationTimeoutError', waited: 0.2 });
    // The server-side timeout is rounded up to whole seconds; the local deadline cuts it.
    assert.deepEqual(waits('op-forever').slice(before), ['/1.0/operations/op-forever/wait?timeout=1']);
    await assert.rejects(result.waitUntilDone({ timeout: 0 }), {
      message: 'operation /1.0/operations/op-forever (Creating instance, still Running 103) did not finish within 0 s',
    });
    assert.equal(waits('op-forever').length, before + 1, 'a zero deadline sends nothing');
  });

  test('onProgress is called when metadata changes, not for an unchanged poll', async () => {
    const seen: Array<string | undefined> = [];
    const done = await (await start('op-progress')).waitUntilDone({
      onProgress: (op) => seen.push(operationProgress(op)),
    });
    assert.deepEqual(seen, ['unpack 10%', 'unpack 60%', 'unpack 100%']);
    assert.equal(done.metadata.status_code, 200);
    assert.deepEqual(waits('op-progress'), Array(4).fill('/1.0/operations/op-progress/wait?timeout=1'));
  });

  test('404 on /wait rejects with OperationGoneError, an APINotFoundException', async () => {
    await assert.rejects((await start('op-gone')).waitUntilDone(), (error: unknown) => {
      assert.ok(error instanceof OperationGoneError);
      assert.ok(error instanceof APINotFoundException);
      assert.equal(error.name, 'OperationGoneError');
      assert.equal(error.code, 'ERR_LXD_OPERATION_GONE');
      assert.equal(error.status, 404);
      assert.equal(
        error.message,
        'operation /1.0/operations/op-gone is no longer known to the server (404 on /wait): it finished more than ~5 s ago and was cleaned up, or never existed here; last seen Running (103)',
      );
      assert.ok(error.cause instanceof APINotFoundException);
      return true;
    });
  });

  test("a failed operation (status_code 400) rejects with APIException carrying LXD's err", async () => {
    const result = await start('op-failed');
    await assert.rejects(result.waitUntilDone(), (error: unknown) => {
      assert.ok(error instanceof APIException);
      assert.ok(!(error instanceof APINotFoundException));
      assert.equal(
        error.message,
        `GET ${api.endpoint}/1.0/operations/op-failed/wait?timeout=1 Failed creating instance record: Instance "c1" already exists`,
      );
      return true;
    });
  });

  test('an abort ends the wait at once with the signal reason', async () => {
    const result = await start('op-forever');
    const reason = new Error('user gave up');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 100);
    const held = endsOf('op-forever').length;
    await assert.rejects(
      result.waitUntilDone({ timeout: 20, signal: controller.signal }),
      (error: unknown) => error === reason,
    );
    // The poll in flight was cut by the abort, not answered at its end.
    assert.deepEqual(await Promise.all(endsOf('op-forever').slice(held)), ['cut']);
    const early = new AbortController();
    early.abort(reason);
    const before = server.seen.length;
    await assert.rejects(result.waitUntilDone({ signal: early.signal }), (error: unknown) => error === reason);
    assert.equal(server.seen.length, before, 'an aborted signal sends nothing');
  });

  test('an aborted wait with a deadline leaves no timer behind: the process exits by itself', async () => {
    // A 20 s deadline and a 30 s poll: the child only exits promptly if the abort cleared both.
    const code = `
      import { API } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)};
      const api = API.factory(process.argv[1]);
      const result = await api.post('/1.0/start/op-forever', { json: {} });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('stop')), 100);
      console.log(await result.waitUntilDone({ timeout: 20, signal: controller.signal }).catch((error) => error.message));
    `;
    const { code: exit, output } = await runTsx(['--input-type=module', '-e', code, server.socketPath], 8000);
    assert.equal(exit, 0, `child did not exit by itself: ${output}`);
    assert.equal(output, 'stop\n');
  });

  test('cancel() sends DELETE to the operation when may_cancel is true', async () => {
    const result = await start('op-cancellable');
    const cancelled = await result.cancel();
    assert.equal(cancelled.status, 200);
    const last = server.seen.at(-1);
    assert.equal(last?.method, 'DELETE');
    assert.equal(last?.url, '/1.0/operations/op-cancellable');
  });

  test('cancel({ refresh: true }) reads the current state first, then deletes', async () => {
    const result = await start('op-cancellable');
    const before = server.seen.length;
    await result.cancel({ refresh: true });
    assert.deepEqual(
      server.seen.slice(before).map((seen) => `${seen.method} ${seen.url}`),
      ['GET /1.0/operations/op-cancellable', 'DELETE /1.0/operations/op-cancellable'],
    );
  });

  test('cancel({ refresh: true }) goes by the current state: finished since, it is not cancelled and only the GET is sent', async () => {
    const result = await start('op-finished');
    const before = server.seen.length;
    await assert.rejects(result.cancel({ refresh: true }), {
      name: 'OperationNotCancellableError',
      message:
        'operation /1.0/operations/op-finished (Creating instance, Success) cannot be cancelled: the server reports may_cancel false',
    });
    assert.deepEqual(
      server.seen.slice(before).map((seen) => `${seen.method} ${seen.url}`),
      ['GET /1.0/operations/op-finished'],
    );
  });

  test('cancel() with an aborted signal rejects with its reason and sends nothing', async () => {
    const result = await start('op-cancellable');
    const reason = new Error('not now');
    const before = server.seen.length;
    for (const refresh of [false, true]) {
      await assert.rejects(
        result.cancel({ refresh, signal: AbortSignal.abort(reason) }),
        (error: unknown) => error === reason,
      );
    }
    assert.equal(server.seen.length, before);
  });

  test('progressInterval sets the poll length with onProgress, rounded up to whole seconds (at least 1), and is ignored without it', async () => {
    const urls: string[] = [];
    for (const progressInterval of [2.4, 0]) {
      const result = await start('op-progress');
      const before = waits('op-progress').length;
      await result.waitUntilDone({ onProgress: () => {}, progressInterval });
      urls.push(...waits('op-progress').slice(before));
    }
    const before = waits('op-progress').length;
    await (await start('op-progress')).waitUntilDone({ progressInterval: 5 });
    urls.push(...waits('op-progress').slice(before));
    assert.deepEqual(
      urls,
      ['timeout=3', 'timeout=1', 'timeout=1'].map((query) => `/1.0/operations/op-progress/wait?${query}`),
    );
  });

  test('cancel() rejects with OperationNotCancellableError and sends nothing when may_cancel is false', async () => {
    const result = await start('op-fixed');
    const before = server.seen.length;
    await assert.rejects(result.cancel(), (error: unknown) => {
      assert.ok(error instanceof OperationNotCancellableError);
      assert.equal(error.name, 'OperationNotCancellableError');
      assert.equal(error.code, 'ERR_LXD_NOT_CANCELLABLE');
      assert.equal(error.operation, '/1.0/operations/op-fixed');
      assert.equal(
        error.message,
        'operation /1.0/operations/op-fixed (Creating instance, Running) cannot be cancelled: the server reports may_cancel false',
      );
      return true;
    });
    assert.equal(server.seen.length, before, 'no request was sent');
  });
});
