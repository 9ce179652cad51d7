// End to end: /1.0/events, waitUntilDone and cancel against the sandbox LXD.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type API,
  APIException,
  OperationGoneError,
  OperationNotCancellableError,
  OperationTimeoutError,
} from '../../src/index.ts';
import { collect } from '../helpers/lxd.ts';
import { lxd, removeInstance, serverName, skip, tlsApi, tlsFiles, uniqueName, unixApi } from './helpers.ts';

describe(`events and operations against ${serverName}`, skip, () => {
  let api: API;
  const name = uniqueName('ev');
  before(async () => {
    api = unixApi();
    await api.post('instances', { json: { name, source: { type: 'image', alias: lxd.image } } }).wait();
  });
  after(async () => {
    try {
      await removeInstance(api, name);
    } finally {
      await api.close();
    }
  });

  // Every stream and session is closed in t.after, so that a failed assertion cannot leave a socket open.

  test('subscribe first, then start an instance: its operation and lifecycle events arrive', {
    timeout: 60_000,
  }, async (t) => {
    const events = await api.events({ type: ['operation', 'lifecycle'] });
    t.after(() => events.close());
    const started = await api.put(`instances/${name}/state`, { json: { action: 'start' } });
    const id = (started.metadata as { id: string }).id;
    const seen = await collect(events, [
      (e) =>
        e.type === 'lifecycle' &&
        e.metadata.action === 'instance-started' &&
        e.metadata.source === `/1.0/instances/${name}`,
    ]);
    const ops = seen.filter((e) => e.type === 'operation' && e.metadata.id === id);
    assert.ok(ops.length >= 1, 'the start operation shows in the stream');
    assert.ok(ops.every((e) => e.type === 'operation' && e.metadata.description === 'Starting instance'));
    await started.waitUntilDone({ timeout: 30 });
  });

  test('an exec shows as operation events and an instance-exec lifecycle event', { timeout: 60_000 }, async (t) => {
    const events = await api.events({ type: ['operation', 'lifecycle'] });
    t.after(() => events.close());
    const session = await api.exec(name, ['true']);
    t.after(() => session.close());
    const id = (session.result.metadata as { id: string }).id;
    assert.equal(await session.exitCode, 0);
    const seen = await collect(events, [
      (e) => e.type === 'operation' && e.metadata.id === id && e.metadata.status_code === 200,
    ]);
    assert.ok(
      seen.some(
        (e) =>
          e.type === 'lifecycle' &&
          e.metadata.action === 'instance-exec' &&
          e.metadata.source === `/1.0/instances/${name}`,
      ),
    );
  });

  test('an untrusted client is refused with 403 over TLS; a trusted one subscribes', { timeout: 30_000 }, async (t) => {
    const files = tlsFiles();
    const untrusted = tlsApi({ cert: files.untrustedCert, key: files.untrustedKey });
    t.after(() => untrusted.close());
    await assert.rejects(untrusted.events(), (error: unknown) => {
      assert.ok(error instanceof APIException);
      assert.equal(error.status, 403);
      assert.match(error.message, /^GET wss:\/\/.+\/1\.0\/events not authorized \(HTTP 403, websocket refused\)$/);
      return true;
    });
    const trusted = tlsApi();
    t.after(() => trusted.close());
    const events = await trusted.events({ type: 'lifecycle' });
    await events.close();
  });

  test('waitUntilDone spans several polls with one overall deadline, reports progress, and says when the server forgot the operation', {
    timeout: 60_000,
  }, async () => {
    const slow = await api.post(`instances/${name}/exec`, {
      json: { command: ['sleep', '3'], 'wait-for-websocket': false, 'record-output': false },
    });
    await assert.rejects(slow.waitUntilDone({ timeout: 1 }), (error: unknown) => {
      assert.ok(error instanceof OperationTimeoutError);
      assert.match(
        error.message,
        /^operation \/1\.0\/operations\/[0-9a-f-]+ \(Executing command, still Running 103\) did not finish within 1 s$/,
      );
      return true;
    });
    const states: number[] = [];
    const started = performance.now();
    const done = await slow.waitUntilDone({ timeout: 20, onProgress: (op) => states.push(op.status_code) });
    assert.equal(done.metadata.status_code, 200);
    assert.equal((done.metadata.metadata as { return: number }).return, 0);
    assert.ok(performance.now() - started > 1000, 'more than one 1-second poll');
    assert.ok(states.includes(200), 'the final metadata (with return) is reported');
    await new Promise((resolve) => setTimeout(resolve, 7000));
    await assert.rejects(slow.waitUntilDone(), (error: unknown) => {
      assert.ok(error instanceof OperationGoneError);
      assert.equal(error.status, 404);
      assert.match(error.message, /is no longer known to the server \(404 on \/wait\)/);
      return true;
    });
  });

  test('cancel: a token operation is cancelled (401); a non-cancellable one is refused without a request', {
    timeout: 30_000,
  }, async () => {
    const token = await api.post('certificates', {
      json: { name: uniqueName('ev-token'), type: 'client', token: true },
    });
    await token.cancel();
    await assert.rejects(token.waitUntilDone({ timeout: 10 }), (error: unknown) => {
      assert.ok(error instanceof APIException);
      assert.equal((error.result.metadata as { status_code: number }).status_code, 401);
      return true;
    });
    const exec = await api.post(`instances/${name}/exec`, {
      json: { command: ['sleep', '1'], 'wait-for-websocket': false },
    });
    await assert.rejects(exec.cancel(), (error: unknown) => {
      assert.ok(error instanceof OperationNotCancellableError);
      assert.match(
        error.message,
        /\(Executing command, Running\) cannot be cancelled: the server reports may_cancel false$/,
      );
      return true;
    });
    await exec.waitUntilDone({ timeout: 20 });
  });
});
