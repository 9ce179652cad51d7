// End to end over the unix socket: an instance's life, a start that fails
// inside its operation, and wait() with a timeout shorter than the operation.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type API, APIException } from '../../src/index.ts';
import {
  instanceLifecycle,
  lxd,
  perServer,
  escapeRegExp as re,
  removeImage,
  removeInstance,
  server,
  serverName,
  skip,
  taggedTarball,
  uniqueName,
  unixApi,
} from './helpers.ts';

describe(`instances over the unix socket of ${serverName}`, skip, () => {
  let api: API;
  before(() => {
    api = unixApi();
  });
  after(() => api?.close());

  test('create, start, exec with recorded output, push and pull, snapshot, stop, delete', async () => {
    await instanceLifecycle(api, uniqueName('e2e-inst'));
  });

  test('wait({ timeout: 1 }) on a longer operation answers 200 with the operation still running (103)', async () => {
    const name = uniqueName('e2e-inst');
    try {
      await api.post('instances', { json: { name, source: { type: 'image', alias: lxd.image } } }).wait();
      await api.put(`instances/${name}/state`, { json: { action: 'start' } }).wait();
      const exec = await api.post(`instances/${name}/exec`, {
        json: { command: ['sleep', '3'], 'record-output': true, 'wait-for-websocket': false, interactive: false },
      });
      assert.equal(exec.status, 202);
      const started = Date.now();
      const first = await exec.wait({ timeout: 1 });
      const elapsed = Date.now() - started;
      assert.equal(first.status, 200);
      assert.equal(first.metadata.status_code, 103);
      assert.equal(first.metadata.status, 'Running');
      assert.ok(elapsed >= 900, `the server held the wait for a second, not ${elapsed} ms`);
      // LXD answers the /wait itself with the running operation; Incus answers it with an error envelope
      // ("context deadline exceeded"), and the library then reads the operation as it is now.
      assert.match(
        first.request.url,
        perServer({ lxd: /\/wait\?timeout=1$/, incus: /\/1\.0\/operations\/[0-9a-f-]+$/ }),
      );
      const second = await exec.wait({ timeout: 10 });
      assert.equal(second.status, 200);
      assert.equal(second.metadata.status_code, 200);
      assert.equal((second.metadata.metadata as { return?: number }).return, 0);
    } finally {
      await removeInstance(api, name);
    }
  });

  test(`a start that fails rejects in wait(), with the operation error of ${serverName}`, async () => {
    const tag = uniqueName('e2e-inst-noinit');
    const tarball = taggedTarball(lxd.noinitTarball, tag);
    const name = uniqueName('e2e-inst-noinit');
    let fingerprint = '';
    try {
      fingerprint = createHash('sha256').update(readFileSync(tarball.path)).digest('hex');
      const uploaded = await api.post('images', { body: createReadStream(tarball.path) }).wait();
      assert.equal((uploaded.metadata.metadata as { fingerprint?: string }).fingerprint, fingerprint);
      await api.post('instances', { json: { name, source: { type: 'image', fingerprint } } }).wait();

      const start = await api.put(`instances/${name}/state`, { json: { action: 'start' } });
      assert.equal(start.status, 202, 'the start itself is accepted');
      const operation = start.operation as string;
      const error = await start.wait().then(
        () => assert.fail('the start succeeded'),
        (reason: unknown) => reason,
      );
      assert.ok(error instanceof APIException, `an APIException, not ${String(error)}`);
      assert.equal(error.status, 200, 'the wait itself succeeded; the operation failed');
      // LXD forks `lxd forkstart` with the config in logs/<name>/, Incus `incusd forkstart` with it in run/<name>/.
      const [daemon, conf] = perServer({ lxd: ['lxd', 'logs'], incus: ['incusd', 'run'] });
      const err = `Failed to run: \\S*/${daemon} forkstart ${re(name)} ${re(lxd.dir)}/containers ${re(lxd.dir)}/${conf}/${re(name)}/lxc\\.conf: exit status 1`;
      assert.match(error.message, new RegExp(`^GET ${re(api.endpoint)}${re(operation)}/wait\\?timeout=30 ${err}$`));
      // LXD answers with the failed operation (sync, status_code 400), whose err is the message. Incus
      // answers with an error envelope behind its HTTP 200, whose error is the message; error.result holds it.
      if (server === 'lxd') {
        const op = error.result.metadata as { status_code: number; status: string; err: string };
        assert.equal(op.status_code, 400);
        assert.equal(op.status, 'Failure');
        assert.equal(error.message, `GET ${api.endpoint}${operation}/wait?timeout=30 ${op.err}`);
      } else {
        const envelope = error.result.data as { type: string; error_code: number; error: string; metadata: unknown };
        assert.equal(envelope.type, 'error');
        assert.equal(envelope.error_code, 500);
        assert.equal(envelope.metadata, null);
        assert.equal(error.message, `GET ${api.endpoint}${operation}/wait?timeout=30 ${envelope.error}`);
      }
    } finally {
      await removeInstance(api, name);
      if (fingerprint) await removeImage(api, fingerprint);
      tarball.cleanup();
    }
  });
});
